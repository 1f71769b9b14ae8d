"""Signing in and out of the console: the routes ``sign_in`` (``/login``) and ``sign_out``
(``/logout``).

A sign-in is counted by the throttle before its password is checked, and given back when
it succeeds; it starts a new session (a new CSRF token too). The way back after signing
in (``?next=``) never leaves the console.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from urllib.parse import unquote

from markupsafe import Markup
from werkzeug.wrappers import Response

from . import layout
from .auth import Session
from .cookies import delete_session, write_session
from .visits import ConsoleParts, Visit

logger = logging.getLogger("gatepay_wsgi.console")

#: The notices the sign-in form shows when a link asks for them (``?message=``).
_NOTICES = ("signed_out", "session_ended")


def sign_in(console: ConsoleParts, visit: Visit) -> Response:
    """``GET /login``: the form; ``POST /login``: check the user and password."""
    request = visit.request
    next_path = safe_next(request.values.get("next", ""))
    if request.method == "GET":
        if visit.session is not None and visit.session.user is not None:
            return visit.redirect(next_path or "/")
        message = request.args.get("message")
        key = message if message in _NOTICES else None
        return _sign_in_page(visit, key, "", next_path)
    name = request.form.get("user", "").strip()
    password = request.form.get("password", "")
    address = request.remote_addr or "-"
    user_key, address_key = f"user:{name}", f"address:{address}"
    # Counted as a failure before the (slow) hash is checked, given back on success:
    # a burst of guesses is counted in turn, in every worker and host alike.
    wait = console.throttle.attempt(user_key, address_key)
    if wait > 0:
        logger.warning(
            "console: sign-in for user %r from %s refused: too many failures (%d s left)",
            name,
            address,
            wait,
        )
        seconds = int(wait) + 1
        response = _sign_in_page(visit, "throttled", name, next_path, status=429, seconds=seconds)
        response.headers["Retry-After"] = str(seconds)
        return response
    if not console.users.check(name, password):
        logger.warning("console: failed sign-in for user %r from %s", name, address)
        return _sign_in_page(visit, "wrong_login", name, next_path, status=403)
    console.throttle.succeeded(user_key, address_key)
    logger.info("console: %s signed in from %s", name, address)
    response = visit.redirect(next_path or "/")
    write_session(request, response, console.session_signer.dump(console.session_signer.new(name)))
    return response


def sign_out(console: ConsoleParts, visit: Visit) -> Response:
    """``POST /logout``: forget the session cookie, then the sign-in form says so."""
    if visit.session is not None and visit.session.user is not None:
        logger.info("console: %s signed out", visit.session.user)
    response = visit.redirect("/login", message="signed_out")
    delete_session(visit.request, response)
    return response


def _sign_in_page(
    visit: Visit,
    key: str | None,
    name: str,
    next_path: str,
    *,
    status: int = 200,
    **values: object,
) -> Response:
    def body(lang: str, links: layout.Links, csrf: str) -> Markup:
        message = layout.say(lang, key, **values) if key else None
        return layout.login_body(lang, links, csrf, message, name, next_path)

    # The form shows no one as signed in, even to a signed-in visitor posting it again.
    csrf = visit.session.csrf if visit.session is not None else ""
    anonymous = replace(visit, session=Session(None, csrf))
    return anonymous.page("title_login", body, status=status)


def safe_next(path: str) -> str:
    """Where to go after signing in: a path inside the console, never another site, and
    never out of the console by dot segments (``/../../shop`` a browser resolves)."""
    if (
        not path.startswith("/")
        or path.startswith("//")
        or "\\" in path
        or any(ord(c) < 32 or c == "\x7f" for c in path)
    ):
        return ""
    where = path.partition("?")[0].partition("#")[0]
    if any(segment in (".", "..") for segment in unquote(where).split("/")):
        return ""
    return path
