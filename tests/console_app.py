"""The console the sign-in burst test serves with gunicorn: ``gunicorn console_app:app``.

``Console`` over the inbox URL GATEPAY_TEST_INBOX, one user ``alice`` whose password is
``right``, hashed slowly enough (pbkdf2, 200,000 rounds) that a burst of sign-ins is
being checked in every worker at once, as a real hash would be.
"""

from __future__ import annotations

import os

from werkzeug.security import generate_password_hash

from gatepay_wsgi.console import Console

HASH = generate_password_hash("right", "pbkdf2:sha256:200000")

app = Console(os.environ["GATEPAY_TEST_INBOX"], users={"alice": HASH}, secret_key="s" * 40)
