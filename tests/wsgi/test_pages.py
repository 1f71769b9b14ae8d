"""pages.py: writing answers; the one HTML page wrapper of the package."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from werkzeug.test import Client

from gatepay_wsgi.pages import html_document, redirect, render, status_line


def test_the_title_is_escaped_and_the_body_is_html():
    page = html_document("<b>Paid</b>", "<p>ok</p>", style="<style></style>", refresh=2)
    assert "<title>&lt;b&gt;Paid&lt;/b&gt;</title>" in page
    assert "<h1>&lt;b&gt;Paid&lt;/b&gt;</h1><p>ok</p>" in page
    assert "<meta http-equiv=refresh content=2>" in page
    assert page.startswith("<!doctype html>")


@pytest.mark.parametrize("answer", ["<p>é</p>", "<p>é</p>".encode()])
def test_a_page_handlers_text_is_sent_as_utf8_html(answer):
    def app(environ, start_response):
        return render(answer, environ, start_response, HTTPStatus.CREATED, [("X-Extra", "1")])

    response = Client(app).get("/")
    assert response.status == "201 Created"
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["X-Extra"] == "1"
    assert response.get_data(as_text=True) == "<p>é</p>"


def test_a_page_handler_may_answer_with_a_wsgi_app_and_nothing_else():
    def inner(environ, start_response):
        start_response("302 Found", [("Location", "/elsewhere")])
        return [b""]

    response = Client(lambda e, s: render(inner, e, s)).get("/")
    assert (response.status_code, response.headers["Location"]) == (302, "/elsewhere")
    with pytest.raises(TypeError, match="must return str, bytes or a WSGI application"):
        Client(lambda e, s: render(42, e, s)).get("/")


def test_status_lines_come_from_one_table_and_413_reads_the_same_on_every_python():
    assert status_line(HTTPStatus.OK) == "200 OK"
    assert status_line(HTTPStatus.SERVICE_UNAVAILABLE) == "503 Service Unavailable"
    assert status_line(HTTPStatus.REQUEST_ENTITY_TOO_LARGE) == "413 Content Too Large"


def test_redirects_take_the_four_redirect_codes_only():
    response = Client(redirect("/orders/A7", 302)).get("/")
    assert (response.status, response.headers["Location"]) == ("302 Found", "/orders/A7")
    with pytest.raises(ValueError, match="one of \\[301, 302, 303, 307\\]"):
        redirect("/x", 304)
