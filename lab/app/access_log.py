"""The lab backends' JSON-lines access log (lb_lab::access reads it), shared
by the FastAPI app (app.py) and the WSGI app (wsgi_app.py)."""

import json
import os


def append(path: str, record: dict) -> None:
    # One write(2) with O_APPEND per line: the workers share the file and
    # small appends do not interleave.
    line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def client(host, port) -> str:
    """"ip:port", "[ip6]:port", or "?" when unknown."""
    if not host:
        return "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
