"""The WSGI application: Django's, with the GatePay callbacks in front of it."""

import os

from gatepay_wsgi.contrib.django import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_shop.settings")

application = get_wsgi_application()
