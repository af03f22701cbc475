"""Entry point for gunicorn (``wsgi:app``) and the flask CLI (``flask --app wsgi``)."""

from aurea import create_app

app = create_app()
