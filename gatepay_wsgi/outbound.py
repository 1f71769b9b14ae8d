"""The HTTP requests this package's tools make: ``request("POST", url, fields, timeout=5)``.

The client posting to the gateway, the sandbox posting notifies to the shop and
``gatepay-wsgi send`` all go through ``request``: a 4xx/5xx answer is the server's word
and comes back as a ``ServerAnswer`` like any other; a server that cannot be reached
raises ``Unreachable``, whose ``kind`` each caller words for its reader.
"""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import urlencode

from .errors import ConfigError, GatePayException


class Unreachable(GatePayException):
    """No answer came from a server this package called (``outbound.request``).

    ``kind`` says why: ``timeout``, ``tls``, ``refused``, ``not_found``, ``reset``,
    ``bad_url`` or ``other``; ``detail`` the system's words, where it has any; ``url`` where to.
    """

    _PLAIN: ClassVar[dict[str, str]] = {
        "timeout": "no answer in time",
        "tls": "TLS failed",
        "refused": "connection refused",
        "not_found": "host not found",
        "reset": "connection reset",
        "bad_url": "not a URL that can be opened",
        "other": "cannot be reached",
    }

    def __init__(self, kind: str, detail: str, url: str) -> None:
        words = self._PLAIN.get(kind, kind) + (f" ({detail})" if detail else "")
        super().__init__(f"{url}: {words}")
        self.kind, self.detail, self.url = kind, detail, url


@dataclass(frozen=True)
class ServerAnswer:
    """What the server answered: its status, content type and (the start of) its body."""

    status: int
    reason: str
    content_type: str
    body: bytes


def check_http_url(url: str, name: str) -> str:
    """Refuse anything but http(s) URLs, so that no setting can make urllib open a file."""
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http:// or https:// URL, got {url!r}")
    return url


def with_query(url: str, fields: Mapping[str, str]) -> str:
    """``with_query("http://x/a?b=1", {"c": "2"})`` -> ``"http://x/a?b=1&c=2"``."""
    return url + ("&" if "?" in url else "?") + urlencode(fields)


def request(
    method: str,
    url: str,
    fields: Mapping[str, str] | None = None,
    *,
    timeout: float,
    limit: int | None = None,
) -> ServerAnswer:
    """Send ``fields`` as a form (POST) or in the query string (GET); the answer.

    :param url: an http(s) URL (checked by the caller: ``check_http_url``).
    :param limit: read at most this many bytes of the body (``None``: all of it).
    :raises Unreachable: no answer came (refused, timed out, TLS, name, reset).
    """
    data = None
    if fields is not None and method == "POST":
        data = urlencode(fields).encode()
    elif fields is not None:
        url = with_query(url, fields)
    try:  # Request() itself refuses some malformed URLs: inside, to say so as Unreachable
        sent = urllib.request.Request(url, data=data, method=method)  # noqa: S310  # http(s)
        if data is not None:
            sent.add_header("Content-Type", "application/x-www-form-urlencoded")
        with urllib.request.urlopen(sent, timeout=timeout) as response:  # noqa: S310
            return ServerAnswer(
                response.status,
                response.reason,
                response.headers.get("Content-Type", ""),
                response.read() if limit is None else response.read(limit),
            )
    except urllib.error.HTTPError as error:  # a 4xx/5xx answer: the server's word all the same
        body = error.read() if limit is None else error.read(limit)
        return ServerAnswer(
            error.code, str(error.reason), error.headers.get("Content-Type", ""), body
        )
    except (OSError, ValueError) as error:
        raise _unreachable(error, url) from error


def _unreachable(error: Exception, url: str) -> Unreachable:
    reason = getattr(error, "reason", error)  # urllib wraps socket errors in URLError
    if isinstance(reason, TimeoutError):
        return Unreachable("timeout", "", url)
    if isinstance(reason, ssl.SSLError):
        return Unreachable("tls", str(getattr(reason, "reason", None) or reason), url)
    if isinstance(reason, ConnectionRefusedError):
        return Unreachable("refused", "", url)
    if isinstance(reason, socket.gaierror):
        return Unreachable("not_found", str(reason.strerror or reason), url)
    if isinstance(reason, ConnectionResetError):
        return Unreachable("reset", str(reason.strerror or reason), url)
    if isinstance(reason, OSError) and reason.strerror:
        return Unreachable("other", reason.strerror, url)
    return Unreachable("bad_url" if isinstance(reason, ValueError) else "other", str(reason), url)
