"""``python -m gatepay_wsgi.cli``: the same as the ``gatepay-wsgi`` command."""

import sys

from . import main

sys.exit(main())
