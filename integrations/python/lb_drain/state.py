"""The drain flag: one file that every worker process of one server sees.

Gunicorn (and `uvicorn --workers`) fork several workers; the drain notice
reaches one of them, and all of them must start closing connections. A file
is the one thing they all share without the master's help: `POST` creates it,
`DELETE` removes it, and each response costs one stat(2) (about a
microsecond). Its name holds the process group's id and the start time of the
group's leader, so a new server (a new group), or a recycled pid, never sees
an old server's flag. See the package README for why not shared memory.
"""

from __future__ import annotations

import atexit
import logging
import os
import stat
import tempfile
import threading
import time
from typing import Optional

log = logging.getLogger("lb_drain")

#: An explicit flag file (e.g. one per server when several servers share a
#: process group); the Gunicorn hook sets it to one keyed by the master.
FLAG_ENV = "LB_DRAIN_FLAG"
#: How often each process looks at the flag without traffic, so that every
#: worker notices (and logs) a drain even if it serves nothing more.
WATCH_INTERVAL_S = 0.2
_PREFIX = "lb-drain-"


def start_time(pid: int) -> Optional[str]:
    """The process's start time in clock ticks since boot (Linux), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # Field 22 of proc(5); fields[0] is field 3 (the state).
    return fields[19] if len(fields) > 19 else None


def process_key(pid: int) -> str:
    """`<pid>-<start time>`: names one process for as long as the machine runs."""
    started = start_time(pid)
    return f"{pid}-{started}" if started else str(pid)


def runtime_dir() -> str:
    """A directory only this user can write: `$XDG_RUNTIME_DIR`, else
    `<tmp>/lb-drain-<uid>` (made 0700 and checked, so no other user can plant
    or redirect a flag)."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg):
        return xdg
    path = os.path.join(tempfile.gettempdir(), f"{_PREFIX}{os.getuid()}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise RuntimeError(
            f"lb_drain: {path} is not a private directory of uid {os.getuid()}; "
            f"remove it or set {FLAG_ENV} to a file in a private directory"
        )
    return path


def flag_path_for(key: str) -> str:
    return os.path.join(runtime_dir(), f"{_PREFIX}{key}")


def default_flag_path() -> str:
    """`$LB_DRAIN_FLAG`, else the flag of this process's group."""
    return os.environ.get(FLAG_ENV) or flag_path_for(process_key(os.getpgrp()))


def _remove_stale(directory: str, keep: str) -> None:
    """Removes flags of groups whose leader is gone (a server killed with
    SIGKILL never removed its own), so the directory does not fill up."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not name.startswith(_PREFIX) or os.path.join(directory, name) == keep:
            continue
        key = name[len(_PREFIX) :]
        pid = key.split("-", 1)[0]
        if pid.isdigit() and process_key(int(pid)) != key:
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass


class DrainFlag:
    """The flag at `path`, seen from this process.

    `is_set()` reads the file each time (the truth is shared); this process
    logs each change it sees once, and a watcher thread makes sure it sees a
    change even while it serves nothing.
    """

    def __init__(self, path: str, remove_at_exit_of: Optional[int] = None):
        self.path = path
        # The group leader's pid: when that process exits, the group's server
        # is gone, and so is its drain.
        self._owner = remove_at_exit_of
        self._seen = False
        self._lock = threading.Lock()
        self._watcher_pid = 0
        atexit.register(self._at_exit)
        if hasattr(os, "register_at_fork"):
            # A flag made before the fork (Gunicorn --preload): each worker
            # needs its own lock and watcher.
            os.register_at_fork(after_in_child=self._after_fork)

    def is_set(self) -> bool:
        on = os.path.exists(self.path)
        if on != self._seen:
            self._note(on)
        return on

    def set(self, on: bool) -> None:
        """Drains (creates the file) or stops draining (removes it)."""
        if on:
            _remove_stale(os.path.dirname(self.path) or ".", self.path)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
            try:
                os.write(fd, f"{time.time():.6f}\n".encode())
            finally:
                os.close(fd)
        else:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
        self.is_set()

    def ensure_watching(self) -> None:
        """Starts this process's watcher thread unless it runs already."""
        if self._watcher_pid == os.getpid():
            return
        self._watcher_pid = os.getpid()
        threading.Thread(target=self._watch, name="lb-drain-watch", daemon=True).start()

    def _watch(self) -> None:
        me = os.getpid()
        while self._watcher_pid == me:
            self.is_set()
            time.sleep(WATCH_INTERVAL_S)

    def _note(self, on: bool) -> None:
        with self._lock:
            if on == self._seen:
                return
            self._seen = on
        if on:
            log.warning("lb_drain: pid %d draining: every response now says Connection: close", os.getpid())
        else:
            log.warning("lb_drain: pid %d no longer draining", os.getpid())

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._watcher_pid = 0
        self.ensure_watching()

    def _at_exit(self) -> None:
        # A worker that exits right after the notice still records that it
        # saw it (its watcher may not have ticked yet).
        self.is_set()
        if self._owner == os.getpid():
            try:
                os.unlink(self.path)
            except OSError:
                pass


_flags: dict = {}
_flags_lock = threading.Lock()


def shared_flag(path: Optional[str] = None) -> DrainFlag:
    """The one DrainFlag of this process for `path` (default: the group's),
    so ASGI, WSGI and the Gunicorn hook share one watcher."""
    explicit = path or os.environ.get(FLAG_ENV)
    path = explicit or default_flag_path()
    with _flags_lock:
        flag = _flags.get(path)
        if flag is None:
            # Only the group's own flag dies with its leader; an explicit one
            # belongs to whoever named it (the Gunicorn hook removes its own).
            owner = None if explicit else os.getpgrp()
            flag = _flags[path] = DrainFlag(path, remove_at_exit_of=owner)
        return flag
