"""ASGI: FastAPI, Starlette, or any ASGI app.

    app.add_middleware(DrainMiddleware)      # FastAPI / Starlette
    app = DrainMiddleware(app)               # any ASGI app

A pure ASGI middleware (not Starlette's BaseHTTPMiddleware): streaming
responses stay streaming, and it needs nothing but the standard library.
"""

from __future__ import annotations

from .access import FORWARDING_HEADERS
from .endpoint import Settings, answer


def with_connection_close(headers) -> list:
    """The response's headers with any Connection header replaced by
    `Connection: close`: the server (Uvicorn, Hypercorn, Daphne, Gunicorn's
    ASGI worker) then closes the connection after this response."""
    kept = [(k, v) for k, v in headers if k.lower() != b"connection"]
    kept.append((b"connection", b"close"))
    return kept


class DrainMiddleware:
    """Serves the drain notice endpoint and, while draining, answers every
    response with `Connection: close`, in every worker of the server.

    Keyword arguments (each defaults to its environment variable, see
    `lb_drain.endpoint.Settings`): `path`, `allow`, `allow_loopback`.
    """

    def __init__(self, app, *, path=None, allow=None, allow_loopback=None, flag=None):
        self.app = app
        self.settings = Settings(path, allow, allow_loopback, flag)

    async def __call__(self, scope, receive, send):
        flag = self.settings.flag
        # Also at lifespan start-up: each worker watches from its first moment.
        flag.ensure_watching()
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope["path"] == self.settings.path:
            return await self._endpoint(scope, send)
        if scope.get("http_version") not in ("1.0", "1.1"):
            # HTTP/2 and 3 have no Connection header (the server sends GOAWAY).
            return await self.app(scope, receive, send)

        async def send_closing(message):
            if message["type"] == "http.response.start" and flag.is_set():
                message = {**message, "headers": with_connection_close(message.get("headers", []))}
            await send(message)

        return await self.app(scope, receive, send_closing)

    async def _endpoint(self, scope, send):
        client = scope.get("client")
        forwarded = any(k.decode("latin-1").lower() in FORWARDING_HEADERS for k, _ in scope.get("headers", []))
        reply = answer(self.settings, scope["method"], client[0] if client else None, forwarded)
        body = reply.body.encode()
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ]
        if reply.allow:
            headers.append((b"allow", reply.allow.encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
