"""Every test runs with a clean environment and its flags in its own
private directory, so tests neither see each other's drains nor the host's."""

import time

import pytest


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    for name in ("LB_DRAIN_ALLOW", "LB_DRAIN_LOOPBACK", "LB_DRAIN_PATH", "LB_DRAIN_FLAG"):
        monkeypatch.delenv(name, raising=False)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    yield runtime


@pytest.fixture
def flag_path(tmp_path, monkeypatch):
    """An explicit flag file for this test (what several workers share)."""
    path = str(tmp_path / "draining")
    monkeypatch.setenv("LB_DRAIN_FLAG", path)
    return path


def wait_for(what, predicate, timeout=5.0):
    """Polls `predicate` until true; fails naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)

