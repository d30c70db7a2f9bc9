import asyncio
import os

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from lb_drain import DrainMiddleware
from lb_drain.state import DrainFlag

LB = ("203.0.113.2", 40000)
LOCAL = ("127.0.0.1", 40000)
CLIENT = ("192.0.2.99", 40000)


async def hello(request):
    return PlainTextResponse("hello")


async def keep_alive(request):
    return PlainTextResponse("hello", headers={"Connection": "keep-alive"})


async def chunks(request):
    async def body():
        for i in range(3):
            yield f"chunk {i}\n".encode()

    return StreamingResponse(body())


def starlette_app(**kwargs):
    app = Starlette(routes=[Route("/", hello), Route("/keep", keep_alive), Route("/stream", chunks)])
    return DrainMiddleware(app, **kwargs)


def closes(response) -> bool:
    return response.headers.get("connection") == "close"


def test_a_notice_makes_every_later_response_close_its_connection(flag_path):
    app = starlette_app()
    with TestClient(app, client=LOCAL) as c:
        assert not closes(c.get("/"))
        r = c.post("/lb/drain")
        assert (r.status_code, r.text) == (200, "draining\n")
        assert os.path.exists(flag_path)
        for path in ("/", "/keep", "/stream"):
            r = c.get(path)
            assert r.status_code == 200 and closes(r), (path, r.headers)
        assert c.get("/stream").text == "chunk 0\nchunk 1\nchunk 2\n"
        assert c.get("/lb/drain").text == "draining\n"


def test_delete_undoes_a_drain(flag_path):
    with TestClient(starlette_app(), client=LOCAL) as c:
        c.post("/lb/drain")
        r = c.delete("/lb/drain")
        assert (r.status_code, r.text) == (200, "not draining\n")
        assert not os.path.exists(flag_path)
        assert not closes(c.get("/"))
        assert c.get("/keep").headers["connection"] == "keep-alive"
        # Twice is fine: a re-enabled backend that was never drained.
        assert c.delete("/lb/drain").status_code == 200


def test_every_worker_sees_the_notice_that_one_received(flag_path):
    # Two middlewares with their own DrainFlag objects on one file: what two
    # Gunicorn workers are (tests/test_state.py does it across processes).
    worker_1 = starlette_app()
    worker_2 = starlette_app(flag=DrainFlag(flag_path))
    with TestClient(worker_1, client=LOCAL) as c1, TestClient(worker_2, client=LOCAL) as c2:
        assert not closes(c2.get("/"))
        c1.post("/lb/drain")
        assert closes(c2.get("/"))
        c2.delete("/lb/drain")
        assert not closes(c1.get("/"))


def test_a_client_may_not_drain_through_the_balancer(flag_path, monkeypatch):
    monkeypatch.setenv("LB_DRAIN_ALLOW", LB[0])
    app = starlette_app()
    with TestClient(app, client=CLIENT) as c:
        for method in ("POST", "DELETE", "GET"):
            r = c.request(method, "/lb/drain")
            assert r.status_code == 403, method
        assert not os.path.exists(flag_path)
        assert not closes(c.get("/"))
    with TestClient(app, client=LB) as lb:
        assert lb.post("/lb/drain").status_code == 200
    with TestClient(app, client=CLIENT) as c:
        assert c.delete("/lb/drain").status_code == 403
        assert closes(c.get("/"))


def test_a_notice_relayed_by_a_local_proxy_is_refused(flag_path):
    with TestClient(starlette_app(), client=LOCAL) as c:
        for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
            r = c.post("/lb/drain", headers={header: "127.0.0.1"})
            assert r.status_code == 403, header
    assert not os.path.exists(flag_path)


def test_other_methods_get_405_with_allow(flag_path):
    with TestClient(starlette_app(), client=LOCAL) as c:
        r = c.put("/lb/drain")
        assert r.status_code == 405
        assert r.headers["allow"] == "GET, POST, DELETE"
    assert not os.path.exists(flag_path)


def test_path_from_argument_or_environment(flag_path, monkeypatch):
    with TestClient(starlette_app(path="/_ops/drain"), client=LOCAL) as c:
        assert c.post("/lb/drain").status_code == 404  # the app's own 404
        assert c.post("/_ops/drain").status_code == 200
    monkeypatch.setenv("LB_DRAIN_PATH", "/env/drain")
    with TestClient(starlette_app(), client=LOCAL) as c:
        assert c.delete("/env/drain").status_code == 200
    with pytest.raises(ValueError, match="must start with '/'"):
        starlette_app(path="drain")


def test_fastapi_add_middleware(flag_path):
    app = FastAPI()

    @app.get("/")
    async def index():
        return {"ok": True}

    app.add_middleware(DrainMiddleware, allow=[LB[0]])
    with TestClient(app, client=LB) as c:
        assert not closes(c.get("/"))
        assert c.post("/lb/drain").status_code == 200
        r = c.get("/")
        assert r.json() == {"ok": True} and closes(r)


def test_http2_responses_get_no_connection_header(flag_path):
    DrainFlag(flag_path).set(True)
    sent = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x", b"y")]})

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "http_version": "2", "path": "/", "method": "GET", "headers": []}
    asyncio.run(DrainMiddleware(app)(scope, None, send))
    assert sent[0]["headers"] == [(b"x", b"y")]
    sent.clear()
    asyncio.run(DrainMiddleware(app)({**scope, "http_version": "1.1"}, None, send))
    assert sent[0]["headers"] == [(b"x", b"y"), (b"connection", b"close")]


def test_websockets_and_lifespan_pass_through(flag_path):
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    for kind in ("websocket", "lifespan"):
        asyncio.run(DrainMiddleware(app)({"type": kind, "path": "/lb/drain"}, None, None))
    assert seen == ["websocket", "lifespan"]
