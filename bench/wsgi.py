"""The production app plus the yardstick: a hello-world view served by the same gunicorn."""

from aurea.app import create_app

app = create_app()


@app.get("/bench/hello")
def hello():
    return {"hello": "world"}
