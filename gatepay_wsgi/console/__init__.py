"""The inbox's web console: ``Console(inbox, users={...}, secret_key=..., handler=...)``.

A WSGI app, mountable beside the shop under any path (or run on its own with
``gatepay-wsgi console --inbox URL --user NAME``, on 127.0.0.1), for the person who
answers "did my payment arrive?" without a shell:

- an overview: notifies by state, what needs action (failed notifies, stale claims),
  notifies per hour by outcome over the last day and week, refused requests by reason
  with their latest sources;
- a searchable list (state, gateway order id, shop order id, date received);
- one notify: its fields (the sign shortened), every delivery, handler runs, the last
  error, the handler's outcome; a replay button per failed notify and one for all
  (a replay claims exactly as a live delivery would, and is logged with who asked).

Chinese and English, readable on a phone. Off unless configured: users with password
hashes (``werkzeug.security.generate_password_hash``) and a secret key of at least 32
characters, else ``ConfigError``. Signed session cookies (HttpOnly, SameSite=Lax, Secure
over HTTPS), a CSRF token on every POST, throttled failed sign-ins, and on every answer
``Content-Security-Policy`` (no script at all), ``X-Frame-Options: DENY`` and
``Cache-Control: no-store``.

The package, each module importing only those after it: ``app.py`` (``Console``: the
request pipeline), the routes ``sign_in.py``, ``browse.py`` (overview, list, one notify)
and ``replays.py``, ``visits.py`` (what a route gets and how it answers),
``cookies.py`` (the cookies on the wire), ``auth.py`` (users, sessions signed by
itsdangerous, the sign-in throttle), ``overview_data.py`` (what the overview counts),
``overview.py`` and ``notifies.py`` (the bodies of those pages), ``layout.py`` (the page and
its shared pieces; all HTML escaped by construction), ``texts.py`` (its words).
"""

from __future__ import annotations

from .app import SECURITY_HEADERS, Console

__all__ = ["SECURITY_HEADERS", "Console"]
