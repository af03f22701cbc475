"""gunicorn settings for ``make run``: ``gunicorn -c gunicorn.conf.py wsgi:app``."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# gunicorn's own variable; Aurea defaults to 2 workers instead of gunicorn's 1.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 10


def access_log_setting(value):
    """``AUREA_ACCESS_LOG``: unset means stdout (``-``); ``off``, ``none`` or empty disable it."""
    if value is None:
        return "-"
    value = value.strip()
    return None if value.lower() in ("", "off", "none") else value


accesslog = access_log_setting(os.environ.get("AUREA_ACCESS_LOG"))
# The application's logs (one JSON line per request) go to the error log too.
errorlog = "-"
loglevel = os.environ.get("AUREA_LOG_LEVEL", "info")
# gunicorn's control socket (one per user by default) is not used by Aurea, and
# several instances on one host (tests, blue/green) would contend for it.
control_socket_disable = True
