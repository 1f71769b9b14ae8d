"""``python -m gatepay_wsgi``: the same as the ``gatepay-wsgi`` command."""

import sys

from .cli import main

sys.exit(main())
