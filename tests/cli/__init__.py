"""The gatepay-wsgi command."""
