"""inbox/handlers.py: the notify handler's answer becomes ``(ok, why)``, its errors a log line."""

from __future__ import annotations

import logging

import pytest

from gatepay_wsgi.inbox.handlers import MAX_ERROR, run_handler
from gatepay_wsgi.messages import parse_notification

from ..gateway import APPKEY, Recorder, notify_fields


def notification(**overrides: str):
    return parse_notification(notify_fields(**overrides), appkey=APPKEY)


@pytest.mark.parametrize("answer", [None, True, "ok", 1, 0, "", []])  # only False declines
def test_any_answer_but_false_is_success_and_logs_nothing(answer, caplog):
    handler = Recorder(answer=answer)
    with caplog.at_level(logging.DEBUG, logger="gatepay_wsgi"):
        assert run_handler(handler, notification()) == (True, None)
    assert [n.order_id for n in handler.calls] == [100001]
    assert caplog.records == []


def test_false_declines_with_a_warning_naming_the_order(caplog):
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        ok, why = run_handler(Recorder(answer=False), notification(), " (replay)")
    assert (ok, why) == (False, "handler returned False")
    (line,) = caplog.records
    assert line.levelno == logging.WARNING
    assert line.exc_info is None
    assert line.getMessage() == (
        "notify failed reason=handler_declined order_id=100001 out_order_id='SHOP-1' (replay)"
    )


def test_a_raising_handler_is_logged_with_its_traceback_and_its_error_kept(caplog):
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        ok, why = run_handler(Recorder(error=KeyError("sku")), notification())
    assert (ok, why) == (False, "KeyError: 'sku'")
    (line,) = caplog.records
    assert line.levelno == logging.ERROR
    assert "reason=handler_error order_id=100001" in line.getMessage()
    assert line.exc_info is not None
    assert line.exc_info[0] is KeyError
    assert "Traceback" in caplog.text


def test_a_long_error_is_cut_to_max_error_and_a_long_shop_id_in_the_log(caplog):
    long_id = "S" * 100
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        ok, why = run_handler(
            Recorder(error=ValueError("x" * 5000)), notification(out_order_id=long_id)
        )
    assert ok is False
    assert len(why) == MAX_ERROR == 2000
    assert why == ("ValueError: " + "x" * 5000)[:MAX_ERROR]
    assert f"out_order_id='{'S' * 40}'" in caplog.text
    assert "S" * 41 not in caplog.text


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_is_not_taken_for_a_handler_error(stop):
    with pytest.raises(stop):
        run_handler(Recorder(error=stop()), notification())
