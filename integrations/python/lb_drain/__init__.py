"""Lose no request when lb drains this backend.

On lb's drain notice (`on_drain = { http = "http://<backend>/lb/drain" }`),
every worker answers every later response with `Connection: close`, so
keep-alive clients leave between requests; with `shutdown_when = "idle"` lb
then stops the server once nothing is in flight. See README.md.
"""

from .access import Access
from .asgi import DrainMiddleware
from .endpoint import DEFAULT_PATH
from .state import DrainFlag, shared_flag
from .wsgi import WSGIDrainMiddleware

__all__ = ["Access", "DEFAULT_PATH", "DrainFlag", "DrainMiddleware", "WSGIDrainMiddleware", "shared_flag"]
__version__ = "0.1.0"
