"""WSGI: Flask, Django, or any WSGI app, under Gunicorn's sync or gthread
workers (or waitress, uWSGI).

    app.wsgi_app = WSGIDrainMiddleware(app.wsgi_app)        # Flask
    application = WSGIDrainMiddleware(get_wsgi_application())  # Django wsgi.py

Or leave the app alone: `gunicorn -c python:lb_drain.gunicorn_conf ...`.
"""

from __future__ import annotations

from .endpoint import Settings, answer
from .state import log

_warned = False


def _force_close(start_response) -> bool:
    """Gunicorn drops hop-by-hop headers the app sets (PEP 3333 forbids them),
    so tell its response object instead: it then sends `Connection: close`
    and closes the connection. True if that worked."""
    response = getattr(start_response, "__self__", None)
    force_close = getattr(response, "force_close", None)
    if callable(force_close):
        force_close()
        return True
    return False


class WSGIDrainMiddleware:
    """Serves the drain notice endpoint and, while draining, makes every
    response close its connection, in every worker of the server.

    Keyword arguments as for `lb_drain.DrainMiddleware`.
    """

    def __init__(self, app, *, path=None, allow=None, allow_loopback=None, flag=None):
        self.app = app
        self.settings = Settings(path, allow, allow_loopback, flag)

    def __call__(self, environ, start_response):
        flag = self.settings.flag
        flag.ensure_watching()
        if environ.get("PATH_INFO") == self.settings.path:
            return self._endpoint(environ, start_response)

        def start_closing(status, headers, exc_info=None):
            if flag.is_set() and not _force_close(start_response):
                if "gunicorn.socket" in environ:
                    _warn_not_outermost()
                # Other servers (waitress, uWSGI) honour the app's header.
                headers = [(k, v) for k, v in headers if k.lower() != "connection"]
                headers.append(("Connection", "close"))
            return start_response(status, headers, exc_info)

        return self.app(environ, start_closing)

    def _endpoint(self, environ, start_response):
        forwarded = any(k in environ for k in ("HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP"))
        reply = answer(self.settings, environ.get("REQUEST_METHOD", ""), environ.get("REMOTE_ADDR"), forwarded)
        body = reply.body.encode()
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        if reply.allow:
            headers.append(("Allow", reply.allow))
        start_response(f"{reply.status} {reply.reason}", headers)
        return [body]


def _warn_not_outermost() -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning(
            "lb_drain: WSGIDrainMiddleware is not the outermost middleware, and Gunicorn ignores "
            "a Connection header from the app: wrap it last, or use lb_drain.gunicorn_conf"
        )
