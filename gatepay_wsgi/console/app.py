"""The console as a WSGI app: ``Console(inbox, users={...}, secret_key=..., handler=...)``.

Routes only, and what the pages show: each ``on_*`` method reads the request, asks the
inbox, and answers with ``pages.py``'s HTML or a redirect. ``__call__`` wraps every
answer, whatever it is, with the security headers, and refuses a POST without the
session's CSRF token before any route sees it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import unquote

from markupsafe import Markup
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from .. import languages
from ..dotted_names import load_handler
from ..errors import ConfigError, InboxUnavailable
from ..inbox import (
    FAILED,
    STATUSES,
    Inbox,
    InboxRecord,
    Rejection,
    ReplayOutcome,
    ReplayResult,
    open_inbox,
)
from ..languages import check_language
from ..messages import Notification
from . import notifies, overview, pages
from .auth import SESSION_COOKIE, LoginThrottle, Session, Sessions, Users, check_secret
from .texts import COOKIE

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
#: Notifies counted for the week's chart at most (a small shop has far fewer).
CHART_LIMIT = 50_000
#: Refused requests read to find each reason's latest sources.
REFUSALS_READ = 1000
#: Sources shown per reason.
SOURCES_SHOWN = 5
#: Notifies the list shows at first, and at most.
LIST_LIMIT, LIST_MAX = 100, 5000

_ROUTES = Map(
    [
        Rule("/", endpoint="overview"),
        Rule("/login", endpoint="login", methods=["GET", "POST"]),
        Rule("/logout", endpoint="logout", methods=["POST"]),
        Rule("/notifies", endpoint="list"),
        Rule("/notifies/<int:order_id>", endpoint="notify"),
        Rule("/notifies/<int:order_id>/replay", endpoint="replay", methods=["POST"]),
        Rule("/replay-failed", endpoint="replay_failed", methods=["POST"]),
    ],
    strict_slashes=False,
)
#: Pages anyone may see: the sign-in form.
_OPEN = frozenset({"login"})


class _Request(Request):
    max_content_length = 64 * 1024
    max_form_memory_size = 16 * 1024
    max_form_parts = 50


class _Refused(Exception):
    """Answer this page now (raised from deep inside a route)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class Console:
    """The inbox's web console, a WSGI app: see what arrived, what failed, replay it.

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
        self.handler = handler
        self.sessions = Sessions(secret, self.users)
        self._owns_inbox = not isinstance(inbox, Inbox)
        self.inbox = open_inbox(inbox)
        self.throttle = LoginThrottle(self.inbox)

    def close(self) -> None:
        """Close the inbox if the console opened it from a URL."""
        if self._owns_inbox:
            self.inbox.close()

    # -- every request --------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = _Request(environ)
        session = self.sessions.load(request.cookies.get(SESSION_COOKIE))
        issue: Session | None = None
        try:
            endpoint, args = _ROUTES.bind_to_environ(environ).match()
            if request.method == "POST" and (
                session is None or not session.csrf_ok(request.form.get("csrf"))
            ):
                logger.warning(
                    "console: a POST to %s without the session's CSRF token, from %s",
                    request.path,
                    request.remote_addr,
                )
                response = self._message(request, session, "title_forbidden", "csrf_failed", 403)
            elif endpoint in _OPEN:
                if session is None:  # the sign-in form needs a CSRF token, hence a session
                    session = issue = self.sessions.new()
                response = getattr(self, "on_" + endpoint)(request, session, **args)
            elif session is None or session.user is None:
                ended = session is None and SESSION_COOKIE in request.cookies
                response = self._to_login(request, ended)
            else:
                response = getattr(self, "on_" + endpoint)(request, session, **args)
        except _Refused as refused:
            response = refused.response
        except HTTPException as error:
            response = self._http_error(request, session, error)
        except InboxUnavailable as error:
            logger.error("console: the inbox could not be read: %s", error)
            response = self._message(request, session, "title_unavailable", "unavailable", 503)
        if issue is not None and SESSION_COOKIE not in _cookies_set(response):
            self._set_session(request, response, issue)
        self._finish(request, response)
        result: Iterable[bytes] = response(environ, start_response)
        return result

    def _finish(self, request: Request, response: Response) -> None:
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        # a ?lang= choice is kept from now on, for the console's pages only
        languages.remember_language(
            response, request.environ, COOKIE, path=self._cookie_path(request)
        )

    @staticmethod
    def _cookie_path(request: Request) -> str:
        return request.script_root or "/"

    def _set_session(self, request: Request, response: Response, session: Session) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            self.sessions.dump(session),
            path=self._cookie_path(request),
            secure=request.scheme == "https",
            httponly=True,
            samesite="Lax",
        )

    def _lang(self, request: Request) -> str:
        """``?lang=``, else the cookie it set, else ``language``, else the browser's."""
        return languages.page_language(request.environ, COOKIE, self.language)

    def _page(
        self,
        request: Request,
        session: Session | None,
        title_key: str,
        body: Callable[[str, pages.Links, str], Markup],
        *,
        status: int = 200,
        current: str = "",
        **title_values: object,
    ) -> Response:
        lang = self._lang(request)
        links = pages.Links(request.script_root)
        csrf = session.csrf if session is not None else ""
        switch = pages.language_switch(
            lang, request.script_root + request.path, request.args.items(multi=True)
        )
        return pages.page(
            lang,
            pages.text(lang, title_key, **title_values),
            body(lang, links, csrf),
            links=links,
            switch=switch,
            user=session.user if session is not None else None,
            csrf=csrf,
            current=current,
            status=status,
        )

    def _message(
        self,
        request: Request,
        session: Session | None,
        title_key: str,
        key: str,
        status: int,
        **values: object,
    ) -> Response:
        return self._page(
            request,
            session,
            title_key,
            lambda lang, links, _: pages.message_body(lang, key, links, **values),
            status=status,
        )

    def _http_error(
        self, request: Request, session: Session | None, error: HTTPException
    ) -> Response:
        code = error.code or 500
        if code == 404:
            return self._message(request, session, "title_not_found", "not_found", 404)
        if code == 405:
            response = self._message(request, session, "title_not_allowed", "not_allowed", 405)
            if isinstance(error, MethodNotAllowed) and error.valid_methods:
                response.headers["Allow"] = ", ".join(error.valid_methods)
            return response
        return self._message(request, session, "title_error", "error", code, code=code)

    def _to_login(self, request: Request, ended: bool = False) -> Response:
        """To the sign-in form, and back here afterwards (``ended``: say the session did)."""
        wanted = request.full_path.rstrip("?") if request.method == "GET" else "/"
        return self._redirect(
            request,
            "/login",
            next=None if wanted in ("/", "") else wanted,
            message="session_ended" if ended else None,
        )

    def _redirect(self, request: Request, path: str, **query: object) -> Response:
        return redirect(pages.Links(request.script_root)(path, **query), 303)

    # -- signing in and out -----------------------------------------------------------

    def on_login(self, request: Request, session: Session) -> Response:
        next_path = _safe_next(request.values.get("next", ""))
        if request.method == "GET":
            if session.user is not None:
                return self._redirect(request, next_path or "/")
            message = request.args.get("message")
            key = message if message in ("signed_out", "session_ended") else None
            return self._login_page(request, session, key, "", next_path)
        name = request.form.get("user", "").strip()
        password = request.form.get("password", "")
        address = request.remote_addr or "-"
        user_key, address_key = f"user:{name}", f"address:{address}"
        # Counted as a failure before the (slow) hash is checked, given back on success:
        # a burst of guesses is counted in turn, in every worker and host alike.
        wait = self.throttle.attempt(user_key, address_key)
        if wait > 0:
            logger.warning(
                "console: sign-in for user %r from %s refused: too many failures (%d s left)",
                name,
                address,
                wait,
            )
            seconds = int(wait) + 1
            response = self._login_page(
                request, session, "throttled", name, next_path, status=429, seconds=seconds
            )
            response.headers["Retry-After"] = str(seconds)
            return response
        if not self.users.check(name, password):
            logger.warning("console: failed sign-in for user %r from %s", name, address)
            return self._login_page(request, session, "wrong_login", name, next_path, status=403)
        self.throttle.succeeded(user_key, address_key)
        logger.info("console: %s signed in from %s", name, address)
        response = self._redirect(request, next_path or "/")
        self._set_session(request, response, self.sessions.new(name))  # a new CSRF token too
        return response

    def _login_page(
        self,
        request: Request,
        session: Session,
        key: str | None,
        name: str,
        next_path: str,
        *,
        status: int = 200,
        **values: object,
    ) -> Response:
        def body(lang: str, links: pages.Links, csrf: str) -> Markup:
            message = pages.say(lang, key, **values) if key else None
            return pages.login_body(lang, links, csrf, message, name, next_path)

        anonymous = Session(None, session.csrf, session.expires)
        return self._page(request, anonymous, "title_login", body, status=status)

    def on_logout(self, request: Request, session: Session) -> Response:
        if session.user is not None:
            logger.info("console: %s signed out", session.user)
        response = self._redirect(request, "/login", message="signed_out")
        response.delete_cookie(
            SESSION_COOKIE,
            path=self._cookie_path(request),
            secure=request.scheme == "https",
            httponly=True,
            samesite="Lax",
        )
        return response

    # -- the pages --------------------------------------------------------------------

    def on_overview(self, request: Request, session: Session) -> Response:
        now = time.time()
        stats = self.inbox.stats()
        waiting = self.inbox.replayable()
        failed = [r for r in waiting if r.status == FAILED]
        stale = [r for r in waiting if r.status != FAILED]
        this_hour = now // 3600 * 3600
        week_start = this_hour - 167 * 3600
        recent = self.inbox.search(since=week_start, limit=CHART_LIMIT)
        capped = CHART_LIMIT if len(recent) >= CHART_LIMIT else None
        week = hourly(recent, week_start, 168, capped)
        day = overview.Chart(week_start + 144 * 3600, week.counts[144:], capped)
        refusals = refusal_rows(stats.rejections, self.inbox.rejections(REFUSALS_READ))
        replayed = request.args.get("replayed")

        def body(lang: str, links: pages.Links, csrf: str) -> Markup:
            return overview.overview_body(
                lang,
                links,
                csrf,
                stats=stats,
                failed=failed,
                stale=stale,
                replay_on=self.handler is not None,
                day=day,
                week=week,
                refusals=refusals,
                message=_replay_all_notice(lang, request.args) if replayed else None,
            )

        return self._page(request, session, "title_overview", body, current="nav_overview")

    def on_list(self, request: Request, session: Session) -> Response:
        args = request.args
        filters = {
            name: args.get(name, "").strip()
            for name in ("status", "order_id", "out_order_id", "from", "to")
        }
        bad: list[str] = []
        status = filters["status"] if filters["status"] in STATUSES else None
        if filters["status"] and status is None:
            bad.append("filter_state")
        order_id = _number(filters["order_id"])
        if filters["order_id"] and order_id is None:
            bad.append("filter_order_id")
        since, until = _day(filters["from"]), _day(filters["to"], next_day=True)
        if filters["from"] and since is None:
            bad.append("filter_from")
        if filters["to"] and until is None:
            bad.append("filter_to")
        limit = min(max(_number(args.get("limit", "")) or LIST_LIMIT, 1), LIST_MAX)
        records = self.inbox.search(
            status=status,
            order_id=order_id,
            out_order_id=filters["out_order_id"] or None,
            since=since,
            until=until,
            limit=limit,
        )
        return self._page(
            request,
            session,
            "title_list",
            lambda lang, links, _: notifies.list_body(
                lang, links, filters, records, limit=limit, bad=bad
            ),
            current="nav_notifies",
        )

    def on_notify(self, request: Request, session: Session, order_id: int) -> Response:
        records = self.inbox.get(order_id)
        if not records:
            return self._message(
                request, session, "title_not_found", "no_notify", 404, order_id=order_id
            )
        replayed = request.args.get("replayed", "")
        outcome = replayed if replayed in {o.value for o in ReplayOutcome} else None
        return self._page(
            request,
            session,
            "title_notify",
            lambda lang, links, csrf: notifies.notify_body(
                lang,
                links,
                csrf,
                records,
                replay_on=self.handler is not None,
                message=pages.say(lang, f"replayed_{outcome}") if outcome else None,
            ),
            order_id=order_id,
        )

    # -- replays ----------------------------------------------------------------------

    def _handler(self, request: Request, session: Session) -> Callable[[Notification], object]:
        if self.handler is None:
            self._refuse(self._message(request, session, "title_not_allowed", "replay_off", 409))
        return self.handler

    def _refuse(self, response: Response) -> NoReturn:
        raise _Refused(response)

    def on_replay(self, request: Request, session: Session, order_id: int) -> Response:
        handler = self._handler(request, session)
        appkey = request.form.get("appkey", "")
        stored = {record.appkey for record in self.inbox.get(order_id)}
        if appkey not in stored:
            raise NotFound()
        logger.info(
            "console: %s asked to replay order_id=%s appkey=%s", session.user, order_id, appkey
        )
        results = self.inbox.replay(handler, [order_id], appkey=appkey, by=session.user)
        outcome = results[0].outcome.value if results else ReplayOutcome.MISSING.value
        return self._redirect(request, f"/notifies/{order_id}", replayed=outcome)

    def on_replay_failed(self, request: Request, session: Session) -> Response:
        handler = self._handler(request, session)
        logger.info("console: %s asked to replay every failed notify", session.user)
        results = self.inbox.replay(handler, None, by=session.user)
        return self._redirect(request, "/", **replay_counts(results))


# -- what the pages show --------------------------------------------------------------


def hourly(
    records: Iterable[InboxRecord], start: float, hours: int, capped: int | None = None
) -> overview.Chart:
    """Notifies per hour from ``start`` (by when they were first received), by status
    (a stale claim counts as processing: the chart shows where each notify stands)."""
    counts: list[Counter[str]] = [Counter() for _ in range(hours)]
    for record in records:
        index = int((record.received_at - start) // 3600)
        if 0 <= index < hours:
            counts[index][str(record.status)] += 1
    return overview.Chart(start, counts, capped)


def refusal_rows(
    totals: Mapping[str, int], latest: Sequence[Rejection], shown: int = SOURCES_SHOWN
) -> list[overview.RefusalRow]:
    """Each reason's total (every refusal ever counted), when it was last seen and its
    busiest sources among the latest refusals kept, the most frequent reason first."""
    by_reason: dict[str, Counter[str | None]] = {}
    last: dict[str, float] = {}
    for rejection in latest:  # newest first
        by_reason.setdefault(rejection.reason, Counter())[rejection.remote_addr] += 1
        last.setdefault(rejection.reason, rejection.at)
    reasons = sorted(set(totals) | set(by_reason), key=lambda r: (-totals.get(r, 0), r))
    return [
        overview.RefusalRow(
            reason,
            max(totals.get(reason, 0), sum(by_reason.get(reason, Counter()).values())),
            last.get(reason),
            tuple(by_reason.get(reason, Counter()).most_common(shown)),
        )
        for reason in reasons
    ]


def replay_counts(results: Sequence[ReplayResult]) -> dict[str, int]:
    """What "replay all failed" did, for the overview's notice."""
    done = sum(1 for r in results if r.outcome == ReplayOutcome.DONE)
    failed = sum(1 for r in results if r.outcome == ReplayOutcome.FAILED)
    return {"replayed": len(results), "done": done, "failed": failed}


def _replay_all_notice(lang: str, args: Mapping[str, str]) -> Markup:
    count, done, failed = (_number(args.get(k, "")) or 0 for k in ("replayed", "done", "failed"))
    if not count:
        return pages.say(lang, "nothing_replayed")
    other = max(count - done - failed, 0)
    return pages.say(lang, "replayed_all", count=count, done=done, failed=failed, other=other)


def _cookies_set(response: Response) -> set[str]:
    return {
        value.split("=", 1)[0] for value in response.headers.getlist("Set-Cookie") if "=" in value
    }


def _number(text: str) -> int | None:
    # Every 19-digit gateway order id too; one too large for any notify finds none (the
    # inbox answers it), and 40 digits keep the conversion cheap.
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 40 else None


def _day(text: str, next_day: bool = False) -> float | None:
    """``2024-05-01`` -> the epoch seconds of that local midnight (or the next one)."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return None
    return (day + timedelta(days=1 if next_day else 0)).timestamp()


def _safe_next(path: str) -> str:
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
