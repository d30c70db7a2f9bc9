import importlib
import os

import pytest

from lb_drain import DrainMiddleware, WSGIDrainMiddleware
from lb_drain import gunicorn as hooks
from lb_drain import state


class Worker:
    def __init__(self, **apps):
        self.__dict__.update(apps)


def wsgi_app(environ, start_response):
    return [b""]


async def asgi_app(scope, receive, send):
    pass


class AsgiClass:
    async def __call__(self, scope, receive, send):
        pass


def test_each_workers_app_gets_the_matching_middleware():
    sync = Worker(wsgi=wsgi_app)
    uvicorn = Worker(wsgi=AsgiClass())
    gasgi = Worker(asgi=asgi_app, wsgi=None)
    for w in (sync, uvicorn, gasgi):
        hooks.post_worker_init(w)
    assert isinstance(sync.wsgi, WSGIDrainMiddleware) and sync.wsgi.app is wsgi_app
    assert isinstance(uvicorn.wsgi, DrainMiddleware)
    assert isinstance(gasgi.asgi, DrainMiddleware) and gasgi.asgi.app is asgi_app


@pytest.fixture
def master(monkeypatch):
    monkeypatch.setattr(hooks, "_master_flag", None)
    yield
    os.environ.pop("LB_DRAIN_FLAG", None)


def test_the_master_names_one_flag_for_its_workers_and_removes_it_at_exit(master, isolated):
    hooks.on_starting(server=None)
    path = os.environ["LB_DRAIN_FLAG"]
    assert path == str(isolated / f"lb-drain-{state.process_key(os.getpid())}")
    state.DrainFlag(path).set(True)
    hooks.on_exit(server=None)
    assert not os.path.exists(path)


def test_an_operators_flag_is_kept(master, flag_path):
    hooks.on_starting(server=None)
    assert os.environ["LB_DRAIN_FLAG"] == flag_path
    state.DrainFlag(flag_path).set(True)
    hooks.on_exit(server=None)
    assert os.path.exists(flag_path)


def test_the_config_module_gives_gunicorn_the_hooks():
    conf = importlib.import_module("lb_drain.gunicorn_conf")
    assert conf.post_worker_init is hooks.post_worker_init
    assert conf.on_starting is hooks.on_starting
    assert conf.on_exit is hooks.on_exit


def test_gunicorn_takes_the_config_module_as_c_python_lb_drain_gunicorn_conf():
    # What `gunicorn -c python:lb_drain.gunicorn_conf` does, through
    # Gunicorn's own loader (which checks each hook's arity).
    from gunicorn.app.base import Application
    from gunicorn.config import Config

    class Loader(Application):
        def __init__(self):
            self.cfg = Config()

        def init(self, parser, opts, args):
            pass

        def load(self):
            pass

    loader = Loader()
    loader.load_config_from_module_name_or_filename("python:lb_drain.gunicorn_conf")
    assert loader.cfg.on_starting is hooks.on_starting
    assert loader.cfg.post_worker_init is hooks.post_worker_init
    assert loader.cfg.on_exit is hooks.on_exit
