"""The console as a WSGI app: ``Console(inbox, users={...}, secret_key=..., handler=...)``.

The request pipeline only: ``__call__`` reads the session from its cookie, finds the
route, refuses a POST without the session's CSRF token and sends a visitor who is not
signed in to the sign-in form before any route sees the request, turns errors into the
console's pages, and gives every answer, whatever it is, the security headers. The routes
are ``sign_in.py``, ``browse.py`` and ``replays.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .. import languages
from ..callbacks import Notification
from ..dotted_names import load_handler
from ..errors import ConfigError, InboxUnavailable
from ..inbox import Inbox, open_inbox
from ..languages import check_language
from .auth import LoginThrottle, Session, SessionSigner, Users, check_secret
from .browse import notify_list, one_notify, overview_page
from .cookies import SESSION_COOKIE, cookie_path, read_session, sets_cookie, write_session
from .replays import replay_failed, replay_one
from .sign_in import sign_in, sign_out
from .texts import COOKIE
from .visits import ConsoleParts, Refused, Visit

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger("gatepay_wsgi.console")

#: Sent with every answer: no script, no frame, no cache, no sniffing, no referrer out.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

#: A route: ``route(console, visit, **url_values)`` -> the answer.
Route = Callable[..., Response]

# Each rule's endpoint is the route itself.
_URLS = Map(
    [
        Rule("/", endpoint=overview_page),
        Rule("/login", endpoint=sign_in, methods=["GET", "POST"]),
        Rule("/logout", endpoint=sign_out, methods=["POST"]),
        Rule("/notifies", endpoint=notify_list),
        Rule("/notifies/<int:order_id>", endpoint=one_notify),
        Rule("/notifies/<int:order_id>/replay", endpoint=replay_one, methods=["POST"]),
        Rule("/replay-failed", endpoint=replay_failed, methods=["POST"]),
    ],
    strict_slashes=False,
)
#: The routes anyone may see: the sign-in form.
_OPEN_TO_ALL: frozenset[Route] = frozenset({sign_in})


class ConsoleRequest(Request):
    """A request to the console: its forms are small, so their limits are too."""

    max_content_length = 64 * 1024
    max_form_memory_size = 16 * 1024
    max_form_parts = 50


class Console:
    """``Console(inbox, users={"alice": HASH}, secret_key=SECRET, handler=mark_paid)``:
    the inbox's web console, a WSGI app: see what arrived, what failed, replay it.

    :param inbox: an ``Inbox`` (``middleware.inbox``) or an inbox URL (``open_inbox``).
    :param users: user name -> password hash made by
        ``werkzeug.security.generate_password_hash`` (``gatepay-wsgi console
        hash-password`` prints one); a plain password is refused.
    :param secret_key: at least 32 characters, kept secret: it signs the session cookies
        (all processes serving the console share it).
    :param handler: the notify handler replays run (a callable or ``"pkg.module:func"``);
        without it the replay buttons are off.
    :param language: ``"zh"`` or ``"en"`` instead of the browser's language (a
        ``?lang=`` link still switches).
    :raises ConfigError: no users, a password not hashed, a missing or short secret key.
        The console is off until they are given.
    """

    def __init__(
        self,
        inbox: Inbox | str,
        *,
        users: Mapping[str, str] | None,
        secret_key: str | bytes | None,
        handler: Callable[[Notification], object] | str | None = None,
        language: str | None = None,
    ) -> None:
        self.users = Users(users)
        secret = check_secret(secret_key)
        try:
            self.language = check_language(language)
        except ValueError as error:
            raise ConfigError(f"console: {error}") from None
        if isinstance(handler, str):
            handler = load_handler(handler, "console handler")
        if handler is not None and not callable(handler):
            raise ConfigError(f"console handler: expected a callable, got {handler!r}")
        self.handler: Callable[[Notification], object] | None = handler
        self.session_signer = SessionSigner(secret, self.users)
        self._owns_inbox = not isinstance(inbox, Inbox)
        self.inbox = open_inbox(inbox)
        self.throttle = LoginThrottle(self.inbox)

    def close(self) -> None:
        """Close the inbox if the console opened it from a URL."""
        if self._owns_inbox:
            self.inbox.close()

    # -- every request --------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = ConsoleRequest(environ)
        visit = Visit(request, self.session_signer.load(read_session(request)), self.language)
        issued: Session | None = None
        parts: ConsoleParts = self  # what the routes may use of the console
        try:
            urls = _URLS.bind_to_environ(environ)
            route: Route
            route, url_values = urls.match()
            session = visit.session
            if request.method == "POST" and (
                session is None or not session.csrf_ok(request.form.get("csrf"))
            ):
                logger.warning(
                    "console: a POST to %s without the session's CSRF token, from %s",
                    request.path,
                    request.remote_addr,
                )
                response = visit.message("title_forbidden", "csrf_failed", 403)
            elif route in _OPEN_TO_ALL:
                if session is None:  # the sign-in form needs a CSRF token, hence a session
                    issued = self.session_signer.new()
                    visit = replace(visit, session=issued)
                response = route(parts, visit, **url_values)
            elif session is None or session.user is None:
                ended = session is None and SESSION_COOKIE in request.cookies
                response = visit.to_sign_in(ended)
            else:
                response = route(parts, visit, **url_values)
        except Refused as refused:
            response = refused.response
        except HTTPException as error:
            response = visit.error_page(error)
        except InboxUnavailable as error:
            logger.error("console: the inbox could not be read: %s", error)
            response = visit.message("title_unavailable", "unavailable", 503)
        if issued is not None and not sets_cookie(response, SESSION_COOKIE):
            write_session(request, response, self.session_signer.dump(issued))
        self._finish(request, response)
        result: Iterable[bytes] = response(environ, start_response)
        return result

    @staticmethod
    def _finish(request: Request, response: Response) -> None:
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        # a ?lang= choice is kept from now on, for the console's pages only
        languages.remember_language(response, request.environ, COOKIE, path=cookie_path(request))
