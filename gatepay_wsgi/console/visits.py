"""What a console route gets and how it answers: ``route(console, visit, **url_values)``.

A route is a function of the console's parts (``ConsoleParts``: the inbox, the users, the
sessions, the throttle, the replay handler) and of the ``Visit``: the request, its session
and the language its pages speak. It answers with one of the visit's answers:
``visit.page(...)`` (a body inside the console's page), ``visit.message(...)`` (a page of
one sentence), ``visit.redirect("/notifies/7")`` (inside the console's mount, wherever it
is) or ``visit.to_sign_in()``; deep inside a route, ``raise Refused(response)`` answers at
once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from markupsafe import Markup
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from .. import languages
from ..callbacks import Notification
from ..inbox import Inbox
from . import layout
from .auth import LoginThrottle, Session, SessionSigner, Users
from .texts import COOKIE

#: A page's body: ``body(lang, links, csrf)``, HTML escaped by construction.
PageBody = Callable[[str, layout.Links, str], Markup]


class ConsoleParts(Protocol):
    """What a route may use of the console (``Console`` has each of them)."""

    inbox: Inbox
    users: Users
    session_signer: SessionSigner
    throttle: LoginThrottle
    #: The notify handler replays run; ``None``: the replay buttons are off.
    handler: Callable[[Notification], object] | None


class Refused(Exception):
    """``raise Refused(visit.message(...))``: answer this page now, from deep in a route."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass(frozen=True)
class Visit:
    """One request to the console: ``Visit(request, session, language)``.

    :param session: the session its cookie carries (``None``: none, or not genuine).
    :param language: the console's ``language`` setting (``None``: the browser's).
    """

    request: Request
    session: Session | None
    language: str | None = None

    @property
    def lang(self) -> str:
        """``?lang=``, else the cookie it set, else ``language``, else the browser's."""
        return languages.page_language(self.request.environ, COOKIE, self.language)

    @property
    def links(self) -> layout.Links:
        """Links inside the console, under its mount (``SCRIPT_NAME``)."""
        return layout.Links(self.request.script_root)

    def page(
        self,
        title_key: str,
        body: PageBody,
        *,
        status: int = 200,
        current: str = "",
        **title_values: object,
    ) -> Response:
        """The console's page around ``body``, titled ``texts[title_key]``; ``current``
        names the navigation link of this page."""
        request, session = self.request, self.session
        lang, links = self.lang, self.links
        csrf = session.csrf if session is not None else ""
        switch = layout.language_switch(
            lang, request.script_root + request.path, request.args.items(multi=True)
        )
        return layout.page(
            lang,
            layout.text(lang, title_key, **title_values),
            body(lang, links, csrf),
            links=links,
            switch=switch,
            user=session.user if session is not None else None,
            csrf=csrf,
            current=current,
            status=status,
        )

    def message(self, title_key: str, key: str, status: int, **values: object) -> Response:
        """A page that says ``texts[key]``, with this status."""
        return self.page(
            title_key,
            lambda lang, links, _: layout.message_body(lang, key, links, **values),
            status=status,
        )

    def error_page(self, error: HTTPException) -> Response:
        """The console's own page for werkzeug's 404, 405 (with ``Allow``) or other error."""
        code = error.code or 500
        if code == 404:
            return self.message("title_not_found", "not_found", 404)
        if code == 405:
            response = self.message("title_not_allowed", "not_allowed", 405)
            if isinstance(error, MethodNotAllowed) and error.valid_methods:
                response.headers["Allow"] = ", ".join(error.valid_methods)
            return response
        return self.message("title_error", "error", code, code=code)

    def redirect(self, path: str, **query: object) -> Response:
        """``303 See Other`` to ``path`` inside the console (``None`` values left out)."""
        return redirect(self.links(path, **query), 303)

    def to_sign_in(self, ended: bool = False) -> Response:
        """To the sign-in form, and back here afterwards (``ended``: say the session did)."""
        request = self.request
        wanted = request.full_path.rstrip("?") if request.method == "GET" else "/"
        return self.redirect(
            "/login",
            next=None if wanted in ("/", "") else wanted,
            message="session_ended" if ended else None,
        )


def query_number(text: str) -> int | None:
    """``"100002"`` -> ``100002``; ``None`` for anything but digits."""
    # Every 19-digit gateway order id too; one too large for any notify finds none (the
    # inbox answers it), and 40 digits keep the conversion cheap.
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 40 else None
