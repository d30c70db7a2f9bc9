import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import wait_for

from lb_drain import state
from lb_drain.state import DrainFlag, shared_flag


def run_in_child(fn, new_group=False):
    """Forks; the child (in a new process group if asked) runs fn and exits
    with its result (an int). Returns that result."""
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            if new_group:
                os.setpgid(0, 0)
            code = fn()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_the_default_flag_is_the_process_groups(isolated):
    # In a group of its own, whose leader (the child) surely exists: the
    # test runner's own group leader may already have exited, and then the
    # flag is named by the group id alone.
    def child():
        path = state.default_flag_path()
        started = state.start_time(os.getpid())
        ok = (
            os.getpgrp() == os.getpid()
            and started is not None
            and os.path.dirname(path) == str(isolated)
            and os.path.basename(path) == f"lb-drain-{os.getpid()}-{started}"
        )
        return 0 if ok else 1

    assert run_in_child(child, new_group=True) == 0


def test_a_gone_group_leader_is_named_by_its_pid_alone():
    # Past the kernel's pid_max (2^22 at most): no such process.
    gone = 2**22 + 1
    assert state.start_time(gone) is None
    assert state.process_key(gone) == str(gone)


def test_workers_of_one_group_share_the_flag_and_another_group_does_not(isolated):
    flag = shared_flag()
    flag.set(True)
    # A forked worker (same process group) sees it; a server started in a
    # process group of its own does not.
    assert run_in_child(lambda: int(state.DrainFlag(state.default_flag_path()).is_set())) == 1
    assert run_in_child(lambda: int(state.DrainFlag(state.default_flag_path()).is_set()), new_group=True) == 0
    # And what a worker sets, the others see.
    flag.set(False)
    assert run_in_child(lambda: (DrainFlag(state.default_flag_path()).set(True), 0)[1]) == 0
    assert flag.is_set()


def test_a_recycled_pid_does_not_inherit_a_flag(isolated):
    # The same group id with another leader start time is another key.
    assert state.process_key(os.getpid()) == f"{os.getpid()}-{state.start_time(os.getpid())}"
    stale = state.flag_path_for(f"{os.getpgrp()}-1")
    open(stale, "w").close()
    assert not shared_flag().is_set()
    shared_flag().set(True)
    assert not os.path.exists(stale), "the stale flag of a gone group was not swept"


def test_each_change_is_logged_once_per_process(flag_path, caplog):
    caplog.set_level(logging.WARNING, logger="lb_drain")
    flag = DrainFlag(flag_path)
    other = DrainFlag(flag_path)
    flag.set(True)
    for _ in range(3):
        assert flag.is_set() and other.is_set()
    flag.set(False)
    assert not other.is_set()
    messages = [r.getMessage() for r in caplog.records]
    pid = os.getpid()
    assert messages == [
        f"lb_drain: pid {pid} draining: every response now says Connection: close",
        f"lb_drain: pid {pid} draining: every response now says Connection: close",
        f"lb_drain: pid {pid} no longer draining",
        f"lb_drain: pid {pid} no longer draining",
    ]


def test_the_watcher_notices_a_drain_without_any_request(flag_path):
    idle = DrainFlag(flag_path)
    idle.ensure_watching()
    DrainFlag(flag_path).set(True)
    wait_for("the idle worker's watcher to see the drain", lambda: idle._seen, timeout=2)


def test_the_group_leader_removes_the_groups_flag_when_it_exits(isolated):
    # A single-process server leading its own group (as a shell or systemd
    # starts it) drains, then exits normally.
    script = "from lb_drain.state import shared_flag; f = shared_flag(); f.set(True); print(f.path)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, start_new_session=True, capture_output=True, text=True, check=True
    )
    path = out.stdout.strip()
    assert os.path.dirname(path) == str(isolated), out
    assert "draining: every response now says Connection: close" in out.stderr
    assert not os.path.exists(path)


def test_the_runtime_dir_must_be_private(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setattr(state.tempfile, "gettempdir", lambda: str(tmp_path))
    assert state.runtime_dir() == str(tmp_path / f"lb-drain-{os.getuid()}")
    os.chmod(state.runtime_dir(), 0o777)
    with pytest.raises(RuntimeError, match="not a private directory"):
        state.runtime_dir()


def test_an_explicit_flag_wins(flag_path):
    assert shared_flag().path == flag_path
    assert shared_flag() is shared_flag()
