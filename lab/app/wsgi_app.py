"""The lab's plain WSGI backend, for Gunicorn's gthread workers: what a Flask
or Django app is to Gunicorn. It has no drain code at all: lb_lab::backend
starts it with LB_LAB_DRAIN_HOOK=1, so gunicorn_conf.py runs lb_drain's
Gunicorn hooks, which wrap it in lb_drain's WSGI middleware (what
`gunicorn -c python:lb_drain.gunicorn_conf` does for a Django project).

Environment and access log as for app.py. Endpoints:
  GET  /                 body = backend name
  POST /                 body = "<name> <request body length>"
  GET  /health           200 "ok"
  GET  /slow?seconds=N   sleeps N s (this worker thread), then answers the name
"""

import itertools
import os
import threading
import time
import weakref
from urllib.parse import parse_qs

import access_log

NAME = os.environ.get("LB_BACKEND_NAME", "backend")
ACCESS_LOG = os.environ.get("LB_ACCESS_LOG")

# Gunicorn puts the connection's socket in the environ: a connection id per
# socket (weakly held: a closed connection's socket goes away), as app.py
# tags Uvicorn's transports.
_conns = weakref.WeakKeyDictionary()
_conns_lock = threading.Lock()
_conn_ids = itertools.count(1)


def _connection_of(environ):
    sock = environ.get("gunicorn.socket")
    if sock is None:
        return None, False
    with _conns_lock:
        cid = _conns.get(sock)
        if cid is not None:
            return cid, False
        cid = _conns[sock] = f"{os.getpid()}-{next(_conn_ids)}"
        return cid, True


def _routes(environ, start_response):
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
    if path == "/" and method == "GET":
        body = NAME
    elif path == "/" and method == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = f"{NAME} {len(environ['wsgi.input'].read(length))}"
    elif path == "/health" and method == "GET":
        body = "ok"
    elif path == "/slow" and method == "GET":
        query = parse_qs(environ.get("QUERY_STRING", ""))
        time.sleep(float(query.get("seconds", ["1"])[0]))
        body = NAME
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "10")])
        return [b"not found\n"]
    data = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]


def app(environ, start_response):
    """Logs every request (one JSON line, as app.py's LabMiddleware)."""
    t = time.time()
    conn, first = _connection_of(environ)
    status = []

    def start(s, headers, exc_info=None):
        status.append(int(s.split(" ", 1)[0]))
        return start_response(s, headers, exc_info)

    try:
        return _routes(environ, start)
    finally:
        if ACCESS_LOG:
            access_log.append(
                ACCESS_LOG,
                {
                    "t": t,
                    "client": access_log.client(environ.get("REMOTE_ADDR"), environ.get("REMOTE_PORT")),
                    "conn": conn,
                    "first": first,
                    "pid": os.getpid(),
                    "method": environ["REQUEST_METHOD"],
                    "path": environ.get("PATH_INFO", "/"),
                    "status": status[-1] if status else None,
                    "t_end": time.time(),
                },
            )
