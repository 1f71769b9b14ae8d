"""The gateway's API answers: ``explain("anypay", 204)`` -> what a code means in English.

Copied from the gateway's public API page (its docs repository at its newest commit,
``api.md``, and ``cloud.md`` for the cloud API), which the client and the sandbox both
follow: success is code ``100`` (``请求成功``); codes 101-110 and 199 are shared, and from
201 on each API lists its own, in the page's Chinese (the ``msg`` the gateway sends). The
English explanations are this package's. Pure standard library.
"""

from __future__ import annotations

#: ``code`` of a created payment.
SUCCESS = 100
SUCCESS_MESSAGE = "请求成功"

#: code -> (the gateway's ``msg``, an English explanation), for every create API.
COMMON: dict[int, tuple[str, str]] = {
    101: ("秘钥必须", "the appkey is missing"),
    102: ("无效的秘钥", "the appkey is not known to the gateway"),
    # The page lists both texts under 103.
    103: ("秘钥已过期 / 签名必须", "the appkey has expired, or the sign is missing"),
    104: ("无效的签名", "the sign does not match (check the appkey and appsecret)"),
    105: ("参数缺失", "a required field is missing"),
    106: ("存在禁止传递的参数", "a field was sent that may not be sent"),
    107: ("api已关闭", "the API is switched off in the gateway's console"),
    108: ("回调接口url未填写", "no return URL is set in the gateway's console"),
    109: ("通知接口url未填写", "no notify URL is set in the gateway's console"),
    110: ("套餐已超额", "the plan's quota is used up"),
    199: ("未知错误", "an unknown error at the gateway"),
}

#: What the gateway's own creation steps answer when they fail (anypay, grouppay, cloudpay).
_CREATION_FAULTS: dict[int, tuple[str, str]] = {
    205: ("分类创建错误", "the gateway failed to create the order's category (its own fault)"),
    206: ("产品创建错误", "the gateway failed to create the order's product (its own fault)"),
    207: ("库存创建错误", "the gateway failed to create the order's stock (its own fault)"),
    208: ("队列创建错误", "the gateway failed to queue the order (its own fault)"),
}
_INVALID_TYPE = ("无效的支付方式", "the pay type is not valid")
_TYPE_OFF = ("当前支付方式已关闭", "this pay type is switched off in the console")
_NO_ACCOUNT = ("无可用支付方式", "no account of this pay type is online")

#: ``POST /api/anypay/create`` (任意金额: any amount).
ANYPAY: dict[int, tuple[str, str]] = {
    **COMMON,
    201: ("价格无效", "the price is not valid"),
    202: _INVALID_TYPE,
    203: _TYPE_OFF,
    204: _NO_ACCOUNT,
    **_CREATION_FAULTS,
}

#: ``POST /api/cloudpay/create`` at the cloud host (云端支付): anypay's, and 209.
CLOUDPAY: dict[int, tuple[str, str]] = {
    **ANYPAY,
    209: ("非代理用户", "the account is not an agent's (the cloud API is for agents)"),
}

#: ``POST /api/grouppay/create`` (组合商品: a group of products).
GROUPPAY: dict[int, tuple[str, str]] = {
    **COMMON,
    201: _INVALID_TYPE,
    202: _TYPE_OFF,
    203: _NO_ACCOUNT,
    204: ("组合内无有效库存商品", "no product of the group is on sale with stock enough"),
    **_CREATION_FAULTS,
}

#: ``POST /api/stablepay/create`` (固定商品: one product of the console's catalogue).
STABLEPAY: dict[int, tuple[str, str]] = {
    **COMMON,
    201: _INVALID_TYPE,
    202: _TYPE_OFF,
    203: _NO_ACCOUNT,
    204: ("队列创建错误", "the gateway failed to queue the order (its own fault)"),
    205: ("产品不可获得", "the product is not available"),
    206: ("当前产品无库存", "the product is out of stock"),
}

#: ``GET /api/order/check`` (付款结果查询: the payment result of an out_order_id).
CHECK: dict[int, tuple[str, str]] = {
    **COMMON,
    201: ("订单不存在", "the gateway has no order with this out_order_id"),
}

#: API name -> its codes.
CODES: dict[str, dict[int, tuple[str, str]]] = {
    "anypay": ANYPAY,
    "grouppay": GROUPPAY,
    "stablepay": STABLEPAY,
    "cloudpay": CLOUDPAY,
    "check": CHECK,
}


def message(api: str, code: int) -> str:
    """``message("anypay", 204)`` -> ``"无可用支付方式"``, the ``msg`` the gateway sends
    (``100``: ``"请求成功"``). ``KeyError`` for an API or a code its page does not list."""
    if code == SUCCESS and api in CODES:
        return SUCCESS_MESSAGE
    return CODES[api][code][0]


def explain(api: str, code: int) -> str:
    """``explain("anypay", 204)`` -> ``"no account of this pay type is online"``."""
    known = CODES.get(api, {}).get(code)
    if code == SUCCESS:
        return "request succeeded"
    return known[1] if known else f"code {code} is not documented for {api}"
