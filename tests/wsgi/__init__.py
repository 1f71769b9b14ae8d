"""The WSGI glue: routing, the notify, the return and timeout pages, reading forms."""
