import os
from wsgiref.util import setup_testing_defaults

from lb_drain import WSGIDrainMiddleware


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "keep-alive")])
    return [b"hello"]


def request(app, method="GET", path="/", peer="127.0.0.1", start_response=None, **extra):
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "REMOTE_ADDR": peer, **extra}
    setup_testing_defaults(environ)
    got = {}

    def record(status, headers, exc_info=None):
        got["status"], got["headers"] = status, headers

    body = b"".join(app(environ, start_response or record))
    return got.get("status"), dict(got.get("headers", [])), body


class GunicornResponse:
    """Gunicorn passes the bound method Response.start_response; its
    force_close() makes Gunicorn send `Connection: close` and close."""

    def __init__(self):
        self.must_close = False
        self.headers = None

    def force_close(self):
        self.must_close = True

    def start_response(self, status, headers, exc_info=None):
        self.headers = headers


def test_a_notice_makes_every_later_response_close(flag_path):
    app = WSGIDrainMiddleware(hello)
    assert request(app)[1]["Connection"] == "keep-alive"
    status, _, body = request(app, "POST", "/lb/drain")
    assert (status, body) == ("200 OK", b"draining\n")
    assert os.path.exists(flag_path)
    status, headers, body = request(app)
    assert (status, headers["Connection"], body) == ("200 OK", "close", b"hello")
    assert request(app, "DELETE", "/lb/drain")[2] == b"not draining\n"
    assert request(app)[1]["Connection"] == "keep-alive"


def test_under_gunicorn_it_tells_gunicorns_response_to_close(flag_path):
    app = WSGIDrainMiddleware(hello)
    request(app, "POST", "/lb/drain")
    resp = GunicornResponse()
    request(app, start_response=resp.start_response)
    assert resp.must_close
    # Gunicorn would drop a Connection header anyway; the app's are left as they were.
    assert ("Connection", "keep-alive") in resp.headers
    request(app, "DELETE", "/lb/drain")
    resp = GunicornResponse()
    request(app, start_response=resp.start_response)
    assert not resp.must_close


def test_access_check(flag_path, monkeypatch):
    monkeypatch.setenv("LB_DRAIN_ALLOW", "203.0.113.2")
    app = WSGIDrainMiddleware(hello)
    assert request(app, "POST", "/lb/drain", peer="192.0.2.99")[0] == "403 Forbidden"
    assert request(app, "POST", "/lb/drain", peer="127.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.99")[0] == "403 Forbidden"
    assert not os.path.exists(flag_path)
    assert request(app, "POST", "/lb/drain", peer="203.0.113.2")[0] == "200 OK"
    assert request(app, "DELETE", "/lb/drain", peer="192.0.2.99")[0] == "403 Forbidden"
    assert os.path.exists(flag_path)


def test_other_methods_get_405(flag_path):
    status, headers, _ = request(WSGIDrainMiddleware(hello), "PATCH", "/lb/drain")
    assert status == "405 Method Not Allowed"
    assert headers["Allow"] == "GET, POST, DELETE"


def test_other_paths_reach_the_app(flag_path):
    assert request(WSGIDrainMiddleware(hello, path="/ops/drain"), "POST", "/lb/drain")[2] == b"hello"


def test_under_gunicorn_but_not_outermost_it_says_so(flag_path, caplog):
    app = WSGIDrainMiddleware(hello)
    request(app, "POST", "/lb/drain")
    _, headers, _ = request(app, **{"gunicorn.socket": object()})
    assert headers["Connection"] == "close"
    assert any("not the outermost middleware" in r.getMessage() for r in caplog.records)


def test_the_flag_file_can_be_given_as_a_path(tmp_path):
    path = str(tmp_path / "my-flag")
    app = WSGIDrainMiddleware(hello, flag=path)
    request(app, "POST", "/lb/drain")
    assert os.path.exists(path)
    assert request(app)[1]["Connection"] == "close"
