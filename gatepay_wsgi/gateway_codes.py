"""The gateway's order-creation answers: ``explain("anypay", 204)`` -> what it means in English.

Copied from the gateway's public API page (its docs repository, ``api.md``), which the
client and the sandbox both follow: success is code ``100`` (``请求成功``), and each create
API lists its refusals. Codes 101-110 and 199 are shared; from 201 on each API has its own.
The page gives ``grouppay``'s codes 201-204 in words only: the sandbox answers them with the
Chinese text anypay uses for the same condition (the pay type ones), and with the English
for "no stock in the group", whose Chinese the page does not show. Pure standard library.
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

#: ``POST /api/anypay/create`` (任意金额: any amount).
ANYPAY: dict[int, tuple[str, str]] = {
    **COMMON,
    201: ("价格无效", "the price is not valid"),
    202: ("无效的支付方式", "the pay type is not valid"),
    203: ("当前支付方式已关闭", "this pay type is switched off in the console"),
    204: ("无可用支付方式", "no account of this pay type is online"),
}

#: ``POST /api/grouppay/create`` (组合商品: a group of products).
GROUPPAY: dict[int, tuple[str, str]] = {
    **COMMON,
    201: ("无效的支付方式", "the pay type is not valid"),
    202: ("当前支付方式已关闭", "this pay type is switched off in the console"),
    203: ("无可用支付方式", "no account of this pay type is online"),
    204: ("no stock in the group", "a product of the group is out of stock"),
}

#: ``POST /api/stablepay/create`` (固定商品: one product of the console's catalogue).
STABLEPAY: dict[int, tuple[str, str]] = {
    **COMMON,
    205: ("产品不可获得", "the product is not available"),
    206: ("当前产品无库存", "the product is out of stock"),
}

#: API name -> its codes.
CODES: dict[str, dict[int, tuple[str, str]]] = {
    "anypay": ANYPAY,
    "grouppay": GROUPPAY,
    "stablepay": STABLEPAY,
}


def message(api: str, code: int) -> str:
    """``message("anypay", 204)`` -> ``"无可用支付方式"``, the ``msg`` the gateway sends."""
    return CODES[api][code][0]


def explain(api: str, code: int) -> str:
    """``explain("anypay", 204)`` -> ``"no account of this pay type is online"``."""
    known = CODES.get(api, {}).get(code)
    if code == SUCCESS:
        return "request succeeded"
    return known[1] if known else f"code {code} is not documented for {api}"
