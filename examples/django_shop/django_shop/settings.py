"""The example shop's settings; the GatePay ones are the ``GATEPAY`` dict at the end.

From the environment: GATEPAY_APPKEY, GATEPAY_APPSECRET (required), GATEPAY_INBOX,
SHOP_DATABASE (SQLite files in the current directory by default) and
GATEPAY_GATEWAY_URL (the sandbox's, say) where payments are created.
"""

import os
import secrets

DEBUG = os.environ.get("DJANGO_DEBUG") == "1"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(32)
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "gatepay_wsgi.contrib.django",  # python manage.py gatepay list|show|stats|replay
    "shop",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
ROOT_URLCONF = "django_shop.urls"
WSGI_APPLICATION = "django_shop.wsgi.application"  # runserver serves the callbacks too
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SHOP_DATABASE", "django_shop.sqlite3"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SHOP_GATEWAY_URL = os.environ.get("GATEPAY_GATEWAY_URL", "")

GATEPAY = {
    "APPKEY": os.environ.get("GATEPAY_APPKEY", ""),
    "APPSECRET": os.environ.get("GATEPAY_APPSECRET", ""),
    "INBOX": os.environ.get("GATEPAY_INBOX", "sqlite:///django_shop_inbox.sqlite3"),
    "NOTIFY": "/gatepay/notify shop.payments:mark_paid",
    "RETURN": "/gatepay/return shop.payments:thank_you",
    "TIMEOUT": "/gatepay/timeout shop.payments:closed",
    "CLOCK_SKEW": 600,
}
