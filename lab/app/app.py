"""The lab's HTTP backend: a FastAPI app served by Gunicorn + Uvicorn workers.

Environment (set by the Rust harness, lb_lab::backend):
  LB_BACKEND_NAME  the backend's name, returned in bodies ("web-1")
  LB_ACCESS_LOG    JSON-lines access log, one line per request
  LB_DRAIN_ALLOW   who may send the drain notice (read by lb_drain)

Endpoints:
  GET  /                 body = backend name
  POST /                 body = "<name> <request body length>"
  GET  /health           200 "ok"
  GET  /slow?seconds=N   sleeps N s (asyncio), then answers the name
  GET  /stream?seconds=N 10 chunks over N s, then ends
  POST /lb/drain         lb's drain notice, served by the shipped lb_drain
                         package (integrations/python): from now on every
                         response of every worker says `Connection: close`,
                         so keep-alive clients leave between requests
  DELETE /lb/drain       back to normal (for tests that re-enable a backend)
"""

import asyncio
import itertools
import os
import time

import access_log

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from lb_drain import DrainMiddleware

NAME = os.environ.get("LB_BACKEND_NAME", "backend")
ACCESS_LOG = os.environ.get("LB_ACCESS_LOG")


_conn_ids = itertools.count(1)


def _connection_of(receive) -> tuple[str | None, bool]:
    """(connection id, is this the connection's first request).

    ASGI gives no connection identity, and a client port can be reused during
    a long run, so "first line for ip:port" alone could hide a new connection.
    Uvicorn's `receive` is a bound method of the request cycle, which holds the
    connection's transport: tag the transport once. Falls back to (None, False)
    if Uvicorn's internals change; then the client ip:port is the key.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is None:
        return None, False
    try:
        cid = transport.__dict__.get("_lb_lab_conn")
        if cid is not None:
            return cid, False
        cid = f"{os.getpid()}-{next(_conn_ids)}"
        transport.__dict__["_lb_lab_conn"] = cid
        return cid, True
    except AttributeError:
        return None, False


def _client(scope) -> str:
    client = scope.get("client")
    return access_log.client(*client) if client else "?"


class LabMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): streaming stays streaming and the
    timing is the request's own. Logs every request."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t = time.time()
        conn, first = _connection_of(receive)
        status = None

        async def send_wrapper(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if ACCESS_LOG:
                access_log.append(
                    ACCESS_LOG,
                    {
                        "t": t,
                        "client": _client(scope),
                        "conn": conn,
                        "first": first,
                        "pid": os.getpid(),
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "t_end": time.time(),
                    },
                )


app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
# What the docs tell FastAPI users to write. Added first, so it sits inside
# LabMiddleware, which logs every request, the notices included.
app.add_middleware(DrainMiddleware)
app.add_middleware(LabMiddleware)


@app.get("/", response_class=PlainTextResponse)
async def index() -> str:
    return NAME


@app.post("/", response_class=PlainTextResponse)
async def echo(request: Request) -> str:
    body = await request.body()
    return f"{NAME} {len(body)}"


@app.get("/health", response_class=PlainTextResponse)
async def health() -> str:
    return "ok"


@app.get("/slow", response_class=PlainTextResponse)
async def slow(seconds: float = 1.0) -> str:
    await asyncio.sleep(seconds)
    return NAME


@app.get("/stream")
async def stream(seconds: float = 1.0) -> StreamingResponse:
    async def chunks():
        for i in range(10):
            await asyncio.sleep(seconds / 10)
            yield f"{NAME} chunk {i}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")
