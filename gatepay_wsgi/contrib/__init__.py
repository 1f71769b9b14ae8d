"""Framework integrations; each module imports its framework and nothing else does.

- ``gatepay_wsgi.contrib.flask``: ``GatePay(app)``, configured from ``app.config``.
- ``gatepay_wsgi.contrib.pyramid``: ``config.include("gatepay_wsgi.contrib.pyramid")``.
- ``gatepay_wsgi.contrib.bottle``: ``app.install(GatePayPlugin(...))``.
- ``gatepay_wsgi.contrib.django``: ``get_wsgi_application()``, from ``settings.GATEPAY``.
- ``gatepay_wsgi.paste``: the PasteDeploy filter (no framework needed).
"""
