#!/usr/bin/env python
"""Django's command line for the example shop: ``python examples/django_shop/manage.py migrate``.

``python manage.py gatepay list|show|stats|replay`` reads the GatePay inbox (the
``gatepay_wsgi.contrib.django`` app in INSTALLED_APPS adds it).
"""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_shop.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
