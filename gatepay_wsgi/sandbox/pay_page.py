"""The buyer's pages at the sandbox gateway: the pay page of an order in each of its
states (open, paid and waiting for the shop, closed, paid into an unwatched account) and
the quick-pay link's form. HTML escaped by construction (``layout.py``).
"""

from __future__ import annotations

from markupsafe import Markup

from ..callbacks import printable
from .layout import say, type_choice
from .orders import SandboxOrder


def _time_out_button(lang: str, order_id: int) -> Markup:
    return Markup(
        "<form method=post action='/pay/{}/timeout'><button id=timeout>{}</button></form>"
    ).format(order_id, say(lang, "time_out"))


def pay_body(lang: str, order: SandboxOrder, amount: str) -> Markup:
    """The pay page of an open order: pay, or let it time out."""
    line = say(
        lang,
        "order_line",
        out=Markup("<code>{}</code>").format(printable(order.out_order_id)),
        id=order.order_id,
    )
    return Markup(
        "<p>{}</p><form method=post action='/pay/{}/pay'><button id=pay>{}</button></form><p></p>{}"
    ).format(
        line,
        order.order_id,
        say(lang, "pay", amount=amount),
        _time_out_button(lang, order.order_id),
    )


def waiting_body(lang: str, amount: str, tries: int, of: int) -> Markup:
    """Paid, the shop has not said ``success`` yet: the page follows the retries."""
    return Markup("<p>{}</p>").format(say(lang, "waiting", amount=amount, tries=tries, of=of))


def closed_body(lang: str) -> Markup:
    return Markup("<p>{}</p>").format(say(lang, "closed"))


def unwatched_body(lang: str, order_id: int) -> Markup:
    """Paid into an account no session watches: the gateway saw nothing."""
    return Markup("<p id=unwatched>{}</p>{}").format(
        say(lang, "unwatched"), _time_out_button(lang, order_id)
    )


def quick_pay_body(lang: str, values: dict[str, str]) -> Markup:
    """The quick-pay link's form: the buyer types the amount (prefilled with ``price``)."""
    keep = Markup("").join(
        Markup("<input type=hidden name={} value='{}'>").format(name, values.get(name, ""))
        for name in ("appkey", "token", "custom", "skin")
    )
    return Markup(
        "<form method=post action='/pay/any'>{}<label>{} <input name=price "
        "inputmode=decimal value='{}'></label> <select name=type>{}</select> "
        "<button id=quick-pay>{}</button></form>"
    ).format(
        keep,
        say(lang, "amount_label"),
        values.get("price", ""),
        type_choice(lang),
        say(lang, "continue"),
    )
