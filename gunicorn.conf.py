"""gunicorn settings for ``make run``: ``gunicorn -c gunicorn.conf.py wsgi:app``.

They live in :mod:`aurea.gunicorn_conf` (``aurea serve`` uses them as
``gunicorn -c python:aurea.gunicorn_conf``); run afresh here, so that each load reads the
environment as it is then.
"""

import runpy

globals().update(
    (name, value)
    for name, value in runpy.run_module("aurea.gunicorn_conf").items()
    if not name.startswith("__")
)
