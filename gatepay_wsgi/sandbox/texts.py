"""Every word the sandbox's pages show, in English and Chinese: ``TEXTS["zh"]["orders"]``.

Each text is plain text with ``{name}`` places; ``layout.say`` escapes the text and fills
the places with escaped values or its own markup (``say(lang, "pay", amount=...)``), so
no text here can open a tag. The two languages have the same keys. The gateway's own
words for its refusal codes (``gateway_codes.py``) are not here: they stay as the
gateway writes them. Chinese text keeps its own punctuation (full-width commas and
colons): ruff's RUF001 is off for this file.
"""

from __future__ import annotations

import re

from ..languages import HTML_LANG, LANGUAGES

__all__ = ["COOKIE", "HTML_LANG", "LANGUAGES", "TEXTS", "notice"]

#: The cookie that keeps a language chosen with ``?lang=zh`` or ``?lang=en``.
COOKIE = "gatepay_sandbox_lang"


TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "sandbox": "GatePay sandbox",
        "switch": "Language",
        # pay types, order states, notify kinds
        "type_alipay": "alipay",
        "type_wechat": "wechat",
        "status_open": "open",
        "status_paid": "paid",
        "status_closed": "closed",
        "kind_auto": "auto",
        "kind_retry": "retry",
        "kind_manual": "manual",
        # the buyer's pages
        "amount": "{price} yuan ({type})",
        "title_pay": "Pay {amount}",
        "pay": "Pay {amount}",
        "order_line": "Order {out} at the shop, gateway order {id}.",
        "time_out": "Let it time out",
        "title_waiting": "Paid: waiting for the shop",
        "waiting": "You paid {amount}. The shop has not confirmed yet (notify {tries} of {of}); "
        "this page follows it.",
        "title_closed": "Order closed",
        "closed": "This order timed out unpaid.",
        "title_unwatched": "Payment not detected",
        "unwatched": "No session is watching this account: the gateway did not see the "
        "payment, so no notify goes to the shop (the merchant can still confirm it by hand "
        "in the console).",
        "title_link_not_valid": "Link not valid",
        "link_not_valid": "This payment link is not valid.",
        "title_not_available": "Not available",
        "not_available": "No account can take this payment now.",
        "title_quick_pay": "Pay the shop",
        "amount_label": "Amount (yuan)",
        "continue": "Continue",
        # the console
        "title_console": "Console",
        "merchant_line": "Merchant appkey {appkey}; notify URL {url}.",
        "orders": "Orders",
        "col_order": "order",
        "col_shop_id": "shop's id",
        "col_amount": "amount",
        "col_status": "status",
        "col_notifies": "notifies",
        "no_orders": "No orders yet.",
        "paid_amount": "(paid {paid})",
        "answered": "{clock} {kind}: answered {status} {body}",
        "attempt_error": "{clock} {kind}: {error}",
        "resend": "I have received this payment",
        "sessions": "Sessions",
        "points": "Points: {points} (100 points = 1 yuan; a scan costs {fee})",
        "col_type": "type",
        "col_account": "account",
        "col_state": "state",
        "col_since": "since",
        "online": "online",
        "offline": "offline",
        "take_offline": "Take offline",
        "scan": "Scan to go online",
        "account_label": "account label",
        "settings": "Settings",
        "notify_url": "Notify URL",
        "return_url": "Return URL",
        "api_on": "create API on",
        "types_on": "pay types on: {types}",
        "quota": "orders left in the plan",
        "no_limit": "(empty: no limit)",
        "agent": "an agent's account (the cloud API)",
        "fault": "the gateway's own fault on every create",
        "fault_": "none",
        "fault_category": "205 category",
        "fault_product": "206 product",
        "fault_stock": "207 stock",
        "fault_queue": "208 queue (stablepay: 204)",
        "col_product_id": "product_id",
        "col_product": "product",
        "col_price": "price",
        "col_stock": "stock (empty: not kept)",
        "not_on_sale": "not on sale",
        "save": "Save",
        "quick_pay_link": "Quick-pay link (快捷收款): {link}",
        # why a notify got no answer (notifier.py)
        "error_timeout": "no answer within {seconds} s",
        "error_unreachable": "could not reach the shop: {detail}",
        "error_refused": "connection refused",
        "error_not_found": "host not found",
        "error_reset": "connection reset",
        # the console's notices (``?message=``)
        "settings_saved": "settings saved",
        "not_enough_points": "not enough points: a scan costs {fee} points ({yuan} yuan), "
        "the balance is {points}",
        "no_session": "no session {id}",
        "unknown_type": "unknown payment type {type}",
    },
    "zh": {
        "sandbox": "GatePay 沙箱",
        "switch": "语言",
        "type_alipay": "支付宝",
        "type_wechat": "微信支付",
        "status_open": "待支付",
        "status_paid": "已支付",
        "status_closed": "已关闭",
        "kind_auto": "自动",
        "kind_retry": "重试",
        "kind_manual": "手动",
        "amount": "{price} 元（{type}）",
        "title_pay": "支付 {amount}",
        "pay": "支付 {amount}",
        "order_line": "商店订单 {out}，网关订单 {id}。",
        "time_out": "让订单超时",
        "title_waiting": "已支付：等待商店确认",
        "waiting": "您已支付 {amount}。商店尚未确认（第 {tries} 次通知，共 {of} 次），"
        "本页会自动刷新。",
        "title_closed": "订单已关闭",
        "closed": "此订单已超时，未支付。",
        "title_unwatched": "未检测到付款",
        "unwatched": "没有会话在监控此收款账户：网关没有检测到这笔付款，因此不会通知商店"
        "（商户仍可在控制台手动确认收款）。",
        "title_link_not_valid": "链接无效",
        "link_not_valid": "此支付链接无效。",
        "title_not_available": "暂不可用",
        "not_available": "目前没有可以收取这笔付款的账户。",
        "title_quick_pay": "向商店付款",
        "amount_label": "金额（元）",
        "continue": "继续",
        "title_console": "控制台",
        "merchant_line": "商户 appkey {appkey}；通知地址 {url}。",
        "orders": "订单",
        "col_order": "网关订单号",
        "col_shop_id": "商店订单号",
        "col_amount": "金额",
        "col_status": "状态",
        "col_notifies": "通知记录",
        "no_orders": "还没有订单。",
        "paid_amount": "（实付 {paid}）",
        "answered": "{clock} {kind}：商店应答 {status} {body}",
        "attempt_error": "{clock} {kind}：{error}",
        "resend": "我已收到这笔付款",
        "sessions": "云端会话",
        "points": "积分：{points}（100 积分 = 1 元；每次扫码消耗 {fee} 积分）",
        "col_type": "类型",
        "col_account": "账户",
        "col_state": "状态",
        "col_since": "起始时间",
        "online": "在线",
        "offline": "离线",
        "take_offline": "下线",
        "scan": "扫码上线",
        "account_label": "账户备注",
        "settings": "设置",
        "notify_url": "异步通知地址",
        "return_url": "同步跳转地址",
        "api_on": "开启下单接口",
        "types_on": "开启的支付方式：{types}",
        "quota": "套餐剩余订单数",
        "no_limit": "（留空：不限）",
        "agent": "代理用户（云端支付接口）",
        "fault": "每次下单都出现网关自身错误",
        "fault_": "无",
        "fault_category": "205 分类创建错误",
        "fault_product": "206 产品创建错误",
        "fault_stock": "207 库存创建错误",
        "fault_queue": "208 队列创建错误（固定商品：204）",
        "col_product_id": "商品编号",
        "col_product": "商品",
        "col_price": "价格",
        "col_stock": "库存（留空：不计库存）",
        "not_on_sale": "已下架",
        "save": "保存",
        "quick_pay_link": "快捷收款链接：{link}",
        "error_timeout": "{seconds} 秒内没有应答",
        "error_unreachable": "无法连接商店：{detail}",
        "error_refused": "连接被拒绝",
        "error_not_found": "找不到主机",
        "error_reset": "连接被重置",
        "settings_saved": "设置已保存",
        "not_enough_points": "积分不足：每次扫码消耗 {fee} 积分（{yuan} 元），当前余额 {points}",
        "no_session": "没有编号为 {id} 的会话",
        "unknown_type": "未知的支付方式 {type}",
    },
}

# The console's notices arrive as English text in ``?message=`` (the redirects of its
# forms): each one the sandbox writes, as a pattern of its English text and its key.
_NOTICES = (
    (re.compile(r"settings saved"), "settings_saved"),
    (
        re.compile(
            r"not enough points: a scan costs (?P<fee>\d+) points \((?P<yuan>[\d.]+) yuan\), "
            r"the balance is (?P<points>\d+)"
        ),
        "not_enough_points",
    ),
    (re.compile(r"no session (?P<id>\d+)"), "no_session"),
    (re.compile(r"unknown payment type (?P<type>.*)"), "unknown_type"),
)


def notice(message: str, lang: str) -> str:
    """A console notice (``?message=``) in ``lang``: the sandbox's own notices are
    translated, anything else is shown as it came."""
    for pattern, key in _NOTICES:
        found = pattern.fullmatch(message)
        if found:
            return TEXTS[lang][key].format(**found.groupdict())
    return message
