"""languages.py: Chinese or English, chosen the same way on every page of the package."""

from __future__ import annotations

from werkzeug.wrappers import Response

from gatepay_wsgi.languages import language_switch, page_language, remember_language


def test_a_link_then_the_cookie_then_the_default_then_the_browser():
    zh_browser = {"HTTP_ACCEPT_LANGUAGE": "zh-CN"}
    assert page_language(zh_browser, "c") == "zh"
    assert page_language(zh_browser, "c", default="en") == "en"
    assert page_language({**zh_browser, "HTTP_COOKIE": "c=en"}, "c") == "en"
    assert (
        page_language({**zh_browser, "HTTP_COOKIE": "c=en", "QUERY_STRING": "lang=zh"}, "c") == "zh"
    )
    assert page_language({"HTTP_COOKIE": "c=fr; other=zh"}, "c") == "en"  # not a language


def test_a_choice_is_kept_in_an_httponly_lax_cookie_secure_over_https():
    response = Response()
    remember_language(response, {"QUERY_STRING": "lang=zh", "wsgi.url_scheme": "https"}, "c")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("c=zh;")
    for flag in ("HttpOnly", "SameSite=Lax", "Secure", "Path=/"):
        assert flag in cookie
    untouched = Response()
    remember_language(untouched, {"QUERY_STRING": "lang=fr"}, "c")
    assert "Set-Cookie" not in untouched.headers


def test_the_switch_keeps_the_page_and_its_query():
    switch = language_switch("zh", "/console", [("lang", "en"), ("q", "a&b")], "Language")
    assert "href='/console?q=a%26b&amp;lang=en'" in switch
    assert "aria-current=true>中文</a>" in switch
