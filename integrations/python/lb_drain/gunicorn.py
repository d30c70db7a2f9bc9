"""Gunicorn hooks: the drain middleware without touching the app.

`lb_drain.gunicorn_conf` is a ready config module using them
(`gunicorn -c python:lb_drain.gunicorn_conf ...`). With a config file of
your own, call them from your hooks:

    from lb_drain import gunicorn as lb_drain_hooks

    def on_starting(server):
        lb_drain_hooks.on_starting(server)

    def post_worker_init(worker):
        lb_drain_hooks.post_worker_init(worker)

    def on_exit(server):
        lb_drain_hooks.on_exit(server)
"""

from __future__ import annotations

import inspect
import os
from typing import Optional

from .asgi import DrainMiddleware
from .state import FLAG_ENV, flag_path_for, process_key
from .wsgi import WSGIDrainMiddleware

# The flag this master named (and removes when it exits).
_master_flag: Optional[str] = None


def on_starting(server) -> None:
    """In the master, before any worker: one flag for this master and all its
    workers (they inherit the environment), keyed by the master's pid and
    start time, whatever process group it was started in."""
    global _master_flag
    if not os.environ.get(FLAG_ENV):
        _master_flag = flag_path_for(process_key(os.getpid()))
        os.environ[FLAG_ENV] = _master_flag


def is_asgi(app) -> bool:
    """An ASGI app is an async callable (FastAPI, Starlette: `async def __call__`)."""
    return inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(getattr(app, "__call__", None))


def wrap(app):
    """The app with the right drain middleware around it."""
    return DrainMiddleware(app) if is_asgi(app) else WSGIDrainMiddleware(app)


def post_worker_init(worker) -> None:
    """In each worker, once it loaded the app and before it serves: wrap it.
    Gunicorn's own workers and Uvicorn's serve `worker.wsgi`; Gunicorn's
    ASGI worker serves `worker.asgi`."""
    for attr in ("asgi", "wsgi"):
        app = getattr(worker, attr, None)
        if app is not None:
            setattr(worker, attr, wrap(app))
            return


def on_exit(server) -> None:
    """In the master, as it exits: the drain ends with the server."""
    if _master_flag:
        try:
            os.unlink(_master_flag)
        except OSError:
            pass
