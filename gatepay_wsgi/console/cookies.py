"""The console's cookies on the wire: ``write_session(request, response, sessions.dump(s))``.

``auth.SessionSigner`` makes and checks the session's value; this module only carries it. Each
of the console's cookies is kept to its mount (``Path`` is the script root, so a shop
beside it never sees them), HttpOnly, SameSite=Lax, and Secure over HTTPS.
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

#: The session cookie's name.
SESSION_COOKIE = "gatepay_console"


def cookie_path(request: Request) -> str:
    """Where the console is mounted: its cookies' ``Path``."""
    return request.script_root or "/"


def read_session(request: Request) -> str | None:
    """The session cookie's value, as the browser sent it (``None``: none)."""
    return request.cookies.get(SESSION_COOKIE)


def write_session(request: Request, response: Response, value: str) -> None:
    """Set the session cookie to ``value`` (a browser session: it ends with the browser,
    or when the value expires, whichever comes first)."""
    response.set_cookie(
        SESSION_COOKIE,
        value,
        path=cookie_path(request),
        secure=request.scheme == "https",
        httponly=True,
        samesite="Lax",
    )


def delete_session(request: Request, response: Response) -> None:
    """Tell the browser to forget the session cookie (signing out)."""
    response.delete_cookie(
        SESSION_COOKIE,
        path=cookie_path(request),
        secure=request.scheme == "https",
        httponly=True,
        samesite="Lax",
    )


def sets_cookie(response: Response, name: str) -> bool:
    """Whether ``response`` already sets (or deletes) the cookie ``name``."""
    return any(
        value.split("=", 1)[0] == name
        for value in response.headers.getlist("Set-Cookie")
        if "=" in value
    )
