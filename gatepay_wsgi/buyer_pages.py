"""The pages this library itself shows a buyer, in Chinese or English: ``buyer_page(...)``.

Return and Timeout show them when a visit cannot be verified or read (a forged or
malformed return link, a wrong method) or when the shop's page handler failed. Most
buyers of Alipay/WeChat shops read Chinese on a phone: the language follows the
browser's ``Accept-Language`` (Chinese for ``zh*``) unless the endpoint forces one, and
the page is styled for a phone's width, with a link back to the shop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from markupsafe import Markup

from .languages import LANGUAGES, buyer_language, check_language
from .pages import html_document

__all__ = ["KINDS", "LANGUAGES", "buyer_language", "buyer_page", "check_language"]

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment


# kind -> language -> (title, message, the link's text). Chinese text keeps its own
# punctuation (full-width commas): ruff's RUF001 is off for this file.
_TEXTS: dict[str, dict[str, tuple[str, str, str]]] = {
    "not_valid": {
        "en": (
            "Payment link not valid",
            "This page could not be verified, so it cannot show your payment. If you paid, "
            "the shop marks your order paid as soon as the payment service tells it: see "
            "your order in the shop.",
            "Back to the shop",
        ),
        "zh": (
            "支付链接无效",
            "此页面未能通过验证，无法显示您的支付结果。如果您已付款，商店收到支付平台的通知后"
            "会立即更新订单，请到商店查看订单状态。",
            "返回商店",
        ),
    },
    "wrong_method": {
        "en": (
            "Page not available",
            "This address opens only as a link in your browser. See your order in the shop.",
            "Back to the shop",
        ),
        "zh": (
            "页面无法打开",
            "此地址只能在浏览器中以链接方式打开。请到商店查看订单状态。",
            "返回商店",
        ),
    },
    "went_wrong": {
        "en": (
            "Something went wrong",
            "The shop could not show this page just now. If you paid, your payment is not "
            "lost: see your order in the shop.",
            "Back to the shop",
        ),
        "zh": (
            "出错了",
            "商店暂时无法显示此页面。如果您已付款，款项不会丢失，请到商店查看订单状态。",
            "返回商店",
        ),
    },
}
#: The kinds of page, for the tests and for anyone replacing them.
KINDS = tuple(_TEXTS)

_STYLE = Markup(
    "<style>"
    "body{font-family:system-ui,-apple-system,'PingFang SC','Microsoft YaHei',sans-serif;"
    "margin:0;padding:1.5rem 1rem;background:#f5f6f8;color:#1f2328;line-height:1.6}"
    "h1{font-size:1.35rem;margin:0 0 .75rem}"
    "main{max-width:32rem;margin:2rem auto;background:#fff;border-radius:12px;"
    "padding:1.5rem;box-shadow:0 1px 4px rgba(0,0,0,.08)}"
    "a.back{display:inline-block;margin-top:1rem;padding:.6rem 1.1rem;border-radius:8px;"
    "background:#1677ff;color:#fff;text-decoration:none}"
    "</style>"
)


def buyer_page(
    kind: str, environ: WSGIEnvironment, *, language: str | None = None, shop_url: str | None = None
) -> str:
    """``buyer_page("not_valid", environ)``: a whole page of ``KINDS`` for the buyer.

    ``shop_url`` is where "back to the shop" leads (a path is taken inside the site's
    mount); by default, the root of the site this callback is mounted in.
    """
    chosen = buyer_language(environ, language)
    title, message, back = _TEXTS[kind][chosen]
    script_name = str(environ.get("SCRIPT_NAME", ""))
    if shop_url is None:
        target = script_name + "/"
    elif shop_url.startswith("/") and not shop_url.startswith("//"):
        target = script_name + shop_url
    else:
        target = shop_url
    body = Markup("<p>{}</p><a class=back href='{}'>{}</a>").format(message, target, back)
    return html_document(
        title,
        Markup("<main><h1>{}</h1>{}</main>").format(title, body),
        style=_STYLE,
        lang="zh-CN" if chosen == "zh" else "en",
        heading=False,
    )
