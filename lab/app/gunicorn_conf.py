"""Gunicorn settings and hooks for the lab's backends (passed with `-c`).

The command line (lb_lab::backend) sets bind, workers, worker class,
timeouts and the pid file; this file adds what the tests observe:
LB_EVENTS_LOG gets one JSON line per master event:
  {"event": "ready", ...}       master booted, listeners open
  {"event": "sigterm", "t": T}  the master received SIGTERM (at receipt)
  {"event": "exit", ...}        the master is about to exit (on_exit)

With LB_LAB_DRAIN_HOOK=1 (the WSGI backend) it also runs lb_drain's Gunicorn
hooks, from a config of its own, as its docs show: each worker's app gets
lb_drain's middleware without the app knowing.
"""

import json
import os
import signal
import time

# Gunicorn >= 26 opens a control socket at a fixed per-user path; several
# backends on one host would fight over it, and the lab does not use it.
control_socket_disable = True

_EVENTS = os.environ.get("LB_EVENTS_LOG")
_DRAIN_HOOK = os.environ.get("LB_LAB_DRAIN_HOOK") == "1"
if _DRAIN_HOOK:
    from lb_drain import gunicorn as lb_drain_hooks


def _record(event: str, **fields) -> None:
    if not _EVENTS:
        return
    line = json.dumps({"event": event, "t": time.time(), "pid": os.getpid(), **fields}) + "\n"
    fd = os.open(_EVENTS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def when_ready(server):
    # The arbiter only queues signals in its handler and acts on them in its
    # main loop (up to a second later), and no Gunicorn hook runs on SIGTERM
    # itself; so wrap the handler it installed, record the receipt time, then
    # let the arbiter queue the signal as usual. Workers reset their signal
    # handlers after the fork, so this only ever fires in the master.
    original = signal.getsignal(signal.SIGTERM)

    def on_sigterm(sig, frame):
        _record("sigterm")
        if callable(original):
            original(sig, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    _record("ready")


def on_starting(server):
    if _DRAIN_HOOK:
        lb_drain_hooks.on_starting(server)


def post_worker_init(worker):
    if _DRAIN_HOOK:
        lb_drain_hooks.post_worker_init(worker)


def on_exit(server):
    _record("exit")
    if _DRAIN_HOOK:
        lb_drain_hooks.on_exit(server)
