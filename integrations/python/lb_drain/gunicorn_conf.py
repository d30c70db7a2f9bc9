"""`gunicorn -c python:lb_drain.gunicorn_conf app:app`: a Gunicorn config
that adds lb's drain handling to any app (WSGI or ASGI) without touching it.
Everything else stays on the command line or in $GUNICORN_CMD_ARGS."""

from lb_drain.gunicorn import on_exit, on_starting, post_worker_init  # noqa: F401
