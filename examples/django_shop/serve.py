"""The Django shop under waitress: ``python examples/django_shop/serve.py``.

Needs ``pip install "gatepay_wsgi[django,examples]"`` and GATEPAY_APPKEY /
GATEPAY_APPSECRET in the environment; creates its tables (``migrate``) first. Serves on
127.0.0.1:$PORT (8000), mounted at $SCRIPT_NAME when that is set (``/shop``).
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the project's own packages
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_shop.settings")

if __name__ == "__main__":
    if not os.environ.get("GATEPAY_APPKEY") or not os.environ.get("GATEPAY_APPSECRET"):
        sys.exit("Set GATEPAY_APPKEY and GATEPAY_APPSECRET (any two words for a local try).")
    import waitress
    from django.core.management import call_command
    from django_shop.wsgi import application

    call_command("migrate", verbosity=0)
    port = int(os.environ.get("PORT", "8000"))
    prefix = os.environ.get("SCRIPT_NAME", "").rstrip("/")
    print(f"Django shop on http://127.0.0.1:{port}{prefix}/  (Ctrl-C stops it)", flush=True)
    waitress.serve(application, host="127.0.0.1", port=port, url_prefix=prefix)
