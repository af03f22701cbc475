"""Entry point for gunicorn (``wsgi:app``) and the flask CLI (``flask --app wsgi``)."""

from aurea.cli import create_app_with_commands

app = create_app_with_commands()
