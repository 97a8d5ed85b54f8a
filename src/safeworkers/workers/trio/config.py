"""gunicorn settings mapped onto a hypercorn ``Config``; hypercorn's logs sent to gunicorn's.

docs/trio.md has the table of which setting becomes what.
"""

from __future__ import annotations

import datetime
import os
import sys
from typing import TYPE_CHECKING, Any

from safeworkers.workers.trio.gate import SENT_KEY

if TYPE_CHECKING:
    from hypercorn.config import Config

    from safeworkers.workers.trio._types import TrioWorkerLike as TrioWorker
    from safeworkers.workers.trio.gate import Policy
    from safeworkers.workers.trio.protocol import Rules


def hypercorn_config(worker: TrioWorker, policy: Policy) -> Config:
    """A hypercorn ``Config`` carrying the gunicorn settings that map onto it."""
    from hypercorn.config import Config
    from hypercorn.logging import Logger

    cfg = worker.cfg
    glog = worker.log

    class GunicornLogger(Logger):
        """hypercorn's logger interface, forwarding to gunicorn's logger."""

        def __init__(self, config: Config) -> None:  # no hypercorn handlers
            self.access_log_format = cfg.access_log_format
            self.access_logger = None
            self.error_logger = None

        async def access(self, request: Any, response: Any, request_time: float) -> None:
            worker._access(request, response, request_time)

        async def critical(self, message: str, *args: Any, **kwargs: Any) -> None:
            glog.critical(message, *args, **kwargs)

        async def error(self, message: str, *args: Any, **kwargs: Any) -> None:
            glog.error(message, *args, **kwargs)

        async def warning(self, message: str, *args: Any, **kwargs: Any) -> None:
            glog.warning(message, *args, **kwargs)

        async def info(self, message: str, *args: Any, **kwargs: Any) -> None:
            # hypercorn's "Running on ... (CTRL + C to quit)": gunicorn's arbiter said it already.
            glog.debug(message, *args, **kwargs)

        async def debug(self, message: str, *args: Any, **kwargs: Any) -> None:
            glog.debug(message, *args, **kwargs)

        async def exception(self, message: str, *args: Any, **kwargs: Any) -> None:
            glog.exception(message, *args, **kwargs)

        async def log(self, level: int, message: str, *args: Any, **kwargs: Any) -> None:
            glog.log(level, message, *args, **kwargs)

    class GunicornConfig(Config):
        logger_class = GunicornLogger

        def create_ssl_context(self) -> Any:
            # gunicorn's own context: certfile/keyfile/ca_certs/cert_reqs/ciphers,
            # ALPN from http_protocols, and the user's ssl_context hook.
            if not cfg.is_ssl:
                return None
            from gunicorn import sock

            return sock.ssl_context(cfg)

    config = GunicornConfig()
    keepalive = float(cfg.keepalive or 0)
    if keepalive > 0:
        config.keep_alive_timeout = keepalive
    else:
        # No keep-alive: one request per connection. hypercorn's keep-alive
        # timeout then only bounds the wait for that first request, so it
        # keeps hypercorn's default rather than 0 (which would close new
        # connections before their request is read).
        config.keep_alive_max_requests = 1
    config.graceful_timeout = float(cfg.graceful_timeout)
    config.shutdown_timeout = float(cfg.graceful_timeout)
    # max_requests is counted by the gate (so the last response says
    # Connection: close); hypercorn's own counter stays off.
    config.max_requests = None
    config.h11_max_incomplete_size = policy.incomplete_size()
    config.h2_max_header_list_size = int(
        getattr(cfg, "http2_max_header_list_size", 0) or policy.fields * policy.field_size
    )
    streams = getattr(cfg, "http2_max_concurrent_streams", None)
    if streams:
        config.h2_max_concurrent_streams = int(streams)
    frame = getattr(cfg, "http2_max_frame_size", None)
    if frame:
        config.h2_max_inbound_frame_size = int(frame)
    ws_max = getattr(cfg, "websocket_max_message_size", None)
    if ws_max is not None:
        # gunicorn's 0 means no limit.
        config.websocket_max_message_size = int(ws_max) or sys.maxsize
    config.root_path = str(getattr(cfg, "root_path", "") or os.environ.get("SCRIPT_NAME", ""))
    config.certfile = cfg.certfile or None
    config.keyfile = cfg.keyfile or None
    config.ca_certs = cfg.ca_certs or None
    config.workers = 1
    return config


def rules(worker: TrioWorker, policy: Policy, config: Config) -> Rules:
    """What each connection is held to: limits, trust, cleartext HTTP/2, WebSocket size."""
    from safeworkers.workers.trio.protocol import Rules

    cfg = worker.cfg
    protocols = getattr(cfg, "http_protocols", None) or ["h1"]
    if isinstance(protocols, str):
        protocols = [part.strip() for part in protocols.split(",")]
    return Rules(
        limits=policy.limits,
        log=worker.log,
        trusted=policy.trusted,
        # gunicorn >= 26.2; older releases have no cleartext HTTP/2 at all.
        h2c=str(getattr(cfg, "http2_cleartext", "off") or "off"),
        http2="h2" in protocols and not cfg.is_ssl,
        websocket_max=config.websocket_max_message_size,
    )


# --------------------------------------------------------------------------- access log


def access_record(scope: Any, response: Any, request_time: float) -> tuple[Any, ...] | None:
    """gunicorn ``log.access`` arguments for one hypercorn access record, or None to skip it."""
    if response is None and (scope.get(SENT_KEY) or (0, 0))[1]:
        # hypercorn logs a response-less duplicate when the client closes
        # while the final body is being written; the real record follows.
        return None
    return (
        _Response(scope, response),
        _Request(scope),
        _environ(scope),
        datetime.timedelta(seconds=request_time),
    )


class _Request:
    """What gunicorn's access logger reads from a request: its headers."""

    def __init__(self, scope: Any) -> None:
        self.headers = [
            (name.decode("latin-1").upper(), value.decode("latin-1"))
            for name, value in scope.get("headers", ())
        ]


class _Response:
    """What gunicorn's access logger reads from a response."""

    def __init__(self, scope: Any, response: Any) -> None:
        if response is None:
            self.status = "-"
            self.headers: list[tuple[str, str]] = []
        else:
            self.status = str(response["status"])
            self.headers = [
                (name.decode("latin-1"), value.decode("latin-1"))
                for name, value in response.get("headers", ())
            ]
        sent = scope.get(SENT_KEY)
        if sent is not None:
            self.sent: int | None = sent[0]
        else:
            length = next((v for k, v in self.headers if k.lower() == "content-length"), None)
            self.sent = int(length) if length and length.isdigit() else None


def _environ(scope: Any) -> dict[str, str]:
    """A WSGI-style environ with the keys gunicorn's access log atoms use."""
    query = scope.get("query_string", b"").decode("latin-1")
    raw_path = (scope.get("raw_path") or scope.get("path", "").encode()).decode("latin-1")
    version = scope.get("http_version", "1.1")
    environ = {
        "REQUEST_METHOD": scope.get("method", "GET"),
        "RAW_URI": f"{raw_path}?{query}" if query else raw_path,
        "PATH_INFO": scope.get("path", ""),
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": f"HTTP/{version}",
        "SCRIPT_NAME": scope.get("root_path", ""),
        "wsgi.url_scheme": scope.get("scheme", "http"),
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = str(client[0])
        environ["REMOTE_PORT"] = str(client[1])
    for name, value in scope.get("headers", ()):
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        text = value.decode("latin-1")
        environ[key] = f"{environ[key]},{text}" if key in environ else text
    return environ
