"""gunicorn settings for ``make run``: ``gunicorn -c gunicorn.conf.py wsgi:app``.

They live in ``aurea/gunicorn_conf.py`` (``aurea serve`` passes that file to gunicorn); run
afresh here by path, so that each load reads the environment as it is then, and without
importing the aurea package: that would load prometheus_client in the master before
on_starting sets PROMETHEUS_MULTIPROC_DIR, and the workers would count in single-process mode.
"""

import runpy
from pathlib import Path

globals().update(
    (name, value)
    for name, value in runpy.run_path(
        str(Path(__file__).resolve().parent / "aurea" / "gunicorn_conf.py")
    ).items()
    if not name.startswith("__")
)
