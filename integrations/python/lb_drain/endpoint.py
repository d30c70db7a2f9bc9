"""The drain notice endpoint, the same for ASGI and WSGI.

lb's `on_drain = { http = "http://<backend>:<port>/lb/drain" }` sends
`POST /lb/drain` (no body) when the drain starts. `DELETE` undoes it (for a
backend put back in service without a restart); `GET` tells the state.
"""

from __future__ import annotations

import os
from typing import NamedTuple, Optional, Union

from .access import Access
from .state import DrainFlag, shared_flag

PATH_ENV = "LB_DRAIN_PATH"
DEFAULT_PATH = "/lb/drain"
ALLOWED_METHODS = "GET, POST, DELETE"


class Reply(NamedTuple):
    status: int
    reason: str
    body: str
    allow: Optional[str] = None  # the Allow header of a 405


class Settings:
    """What a middleware needs: the endpoint's path, who may call it, the flag.
    Keyword arguments win over the environment ($LB_DRAIN_PATH,
    $LB_DRAIN_ALLOW, $LB_DRAIN_LOOPBACK, $LB_DRAIN_FLAG); `flag` is the flag
    file's path (or a DrainFlag)."""

    def __init__(
        self,
        path: Optional[str] = None,
        allow=None,
        allow_loopback: Optional[bool] = None,
        flag: Union[DrainFlag, str, None] = None,
    ):
        self.path = path or os.environ.get(PATH_ENV) or DEFAULT_PATH
        if not self.path.startswith("/"):
            raise ValueError(f"lb_drain: the endpoint's path must start with '/', got {self.path!r}")
        self.access = Access(allow, allow_loopback)
        self.flag = flag if isinstance(flag, DrainFlag) else shared_flag(flag)
        self.flag.ensure_watching()


def answer(settings: Settings, method: str, peer: Optional[str], forwarded: bool) -> Reply:
    """Handles a request to the endpoint: checks the sender, then acts."""
    if not settings.access.allows(peer, forwarded):
        return Reply(403, "Forbidden", "lb_drain: this address may not drain this backend\n")
    if method == "POST":
        settings.flag.set(True)
        return Reply(200, "OK", "draining\n")
    if method == "DELETE":
        settings.flag.set(False)
        return Reply(200, "OK", "not draining\n")
    if method == "GET":
        return Reply(200, "OK", "draining\n" if settings.flag.is_set() else "not draining\n")
    return Reply(405, "Method Not Allowed", "lb_drain: use POST, DELETE or GET\n", ALLOWED_METHODS)
