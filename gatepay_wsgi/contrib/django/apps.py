"""``INSTALLED_APPS = [..., "gatepay_wsgi.contrib.django"]`` adds ``manage.py gatepay``."""

from __future__ import annotations

from django.apps import AppConfig


class GatePayConfig(AppConfig):  # type: ignore[misc]  # Django ships no type information
    name = "gatepay_wsgi.contrib.django"
    label = "gatepay"
    verbose_name = "GatePay callbacks"
