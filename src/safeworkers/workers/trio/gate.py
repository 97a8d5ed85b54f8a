"""The app hypercorn serves: gunicorn's per-request policy around the user's app.

HTTP/1.x requests reach the gate already checked by the strict framer
(:mod:`.http1`: limits, framing, versions, Host, Expect). HTTP/2 requests
(over TLS, or cleartext where gunicorn's settings allow it) are parsed by h2,
which has no knob for several of gunicorn's checks; the gate applies them to
their scope before the app sees it, and refuses with the status gunicorn
gives:

- ``limit_request_line`` (414), ``limit_request_fields`` and
  ``limit_request_field_size`` (431);
- ``Content-Length`` with ``Transfer-Encoding`` (400), an HTTP version other
  than 1.0, 1.1 or 2;
- an ``Expect`` other than ``100-continue`` (417), control characters in a
  header value (400).

For every request it applies trusted ``secure_scheme_headers`` (the scope's
scheme; contradictory ones are 400) and counts max-requests, the last
response saying ``Connection: close``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from safeworkers.workers.trio.http1 import Limits
from safeworkers.workers.trio.lifespan import LifespanModes

if TYPE_CHECKING:
    from hypercorn.typing import AppWrapper

    from safeworkers.workers.trio._types import TrioWorkerLike as TrioWorker

#: gunicorn's defaults for a limit set to 0 ("unlimited"): http/message.py.
MAX_HEADERS = 32768
DEFAULT_FIELD_SIZE = 8190
DEFAULT_LINE = 8190
#: The private scope key where the gate counts response body bytes for the
#: access log's ``%(b)s``/``%(B)s`` (hypercorn's response summary has none).
SENT_KEY = "safeworkers.response_bytes"
#: HTTP versions a request may claim (h11 accepts any ``HTTP/d.d``).
_VERSIONS = frozenset({"1.0", "1.1", "2", "3"})
#: Versions whose requests the strict framer checked already.
_FRAMED = frozenset({"1.0", "1.1"})
#: Control characters a header value may not hold (RFC 9110 5.5); h11 refuses
#: only NUL, CR and LF.
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]").search

Refusal = tuple[int, str, str]


def _limit(value: Any, default: int) -> int:
    number = int(value or 0)
    return number if number > 0 else default


class Policy:
    """gunicorn's per-request settings, resolved once per worker."""

    def __init__(self, cfg: Any) -> None:
        line = int(cfg.limit_request_line or 0)
        #: 0 means unlimited in gunicorn: no request-line check.
        self.line = line if line > 0 else 0
        self.fields = _limit(cfg.limit_request_fields, MAX_HEADERS)
        self.field_size = _limit(cfg.limit_request_field_size, DEFAULT_FIELD_SIZE)
        #: The same limits, for the HTTP/1.1 framer.
        self.limits = Limits(self.line, self.fields, self.field_size)
        secure = dict(getattr(cfg, "secure_scheme_headers", None) or {})
        #: lower-case header name -> the value meaning "https"
        self.secure: dict[bytes, bytes] = {
            str(k).lower().encode("latin-1"): str(v).encode("latin-1") for k, v in secure.items()
        }
        allow = list(getattr(cfg, "forwarded_allow_ips", None) or [])
        self.trust_all = "*" in allow
        self.networks = [ipaddress.ip_network(a, strict=False) for a in allow if a != "*"]
        self._trusted: dict[str, bool] = {}

    def incomplete_size(self) -> int:
        """hypercorn's bound on a buffered HTTP/1.1 request head: the largest legal one."""
        line = self.line or DEFAULT_LINE
        return line + 2 + self.fields * (self.field_size + 2) + 2

    def trusted(self, client: Any) -> bool:
        """Whether this peer may set ``secure_scheme_headers`` (gunicorn's rule)."""
        if not client:  # a Unix socket peer has no address: trusted, as in gunicorn
            return True
        if self.trust_all:
            return True
        host = str(client[0])
        known = self._trusted.get(host)
        if known is None:
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                known = False
            else:
                known = any(ip in net for net in self.networks)
            if len(self._trusted) > 4096:
                self._trusted.clear()
            self._trusted[host] = known
        return known

    def check(self, scope: Any) -> Refusal | None:
        """Check limits and framing, apply trusted scheme headers; a refusal, or None."""
        if scope.get("http_version") in _FRAMED:
            return self.scheme(scope) if self.secure else None
        headers = scope["headers"]
        if len(headers) > self.fields:
            return 431, "Request Header Fields Too Large", "limit request headers fields"
        version = scope.get("http_version", "1.1")
        if version not in _VERSIONS:
            return 400, "Bad Request", f"invalid HTTP version {version!r}"
        if self.line:
            qs = scope.get("query_string") or b""
            raw_path = scope.get("raw_path") or scope["path"].encode()
            length = (
                len(scope.get("method", "GET"))
                + len(raw_path)
                + (len(qs) + 1 if qs else 0)
                + len(version)
                + 7  # two spaces and "HTTP/"
            )
            if length > self.line:
                return 414, "URI Too Long", f"limit request line {length} > {self.line}"
        field_size = self.field_size
        secure = self.secure
        https: bool | None = None
        length_header = coding_header = False
        for name, value in headers:
            if len(name) + len(value) + 2 > field_size:
                return 431, "Request Header Fields Too Large", "limit request headers fields size"
            if _CONTROL(value):
                return 400, "Bad Request", f"invalid header value in {name!r}"
            if name == b"content-length":
                length_header = True
            elif name == b"transfer-encoding":
                coding_header = True
            elif name == b"expect" and value.strip().lower() != b"100-continue":
                return 417, "Expectation Failed", f"unsupported Expect: {value!r}"
            if name in secure:
                this = value == secure[name]
                if https is not None and this != https:
                    return 400, "Bad Request", "contradictory scheme headers"
                https = this
        if coding_header and (length_header or version == "1.0"):
            # RFC 9112 6.1: such a message is a request-smuggling attempt
            # behind a proxy that reads the other framing; gunicorn refuses it.
            why = "Content-Length with Transfer-Encoding" if length_header else "on HTTP/1.0"
            return 400, "Bad Request", f"invalid framing: Transfer-Encoding {why}"
        self._set_scheme(scope, https)
        return None

    def scheme(self, scope: Any) -> Refusal | None:
        """Apply trusted ``secure_scheme_headers`` alone (the framer checked the rest)."""
        secure = self.secure
        https: bool | None = None
        for name, value in scope["headers"]:
            if name in secure:
                this = value == secure[name]
                if https is not None and this != https:
                    return 400, "Bad Request", "contradictory scheme headers"
                https = this
        self._set_scheme(scope, https)
        return None

    def _set_scheme(self, scope: Any, https: bool | None) -> None:
        if https is not None and self.trusted(scope.get("client")):
            if scope["type"] == "websocket":
                scope["scheme"] = "wss" if https else "ws"
            else:
                scope["scheme"] = "https" if https else "http"


class Gate:
    """The app hypercorn serves: the policy, then the user's app.

    It takes and gives hypercorn's ``AppWrapper`` interface (ASGI plus
    ``sync_spawn``/``call_soon``), so it sits around ASGI and WSGI apps alike.
    """

    def __init__(
        self, app: AppWrapper, worker: TrioWorker, policy: Policy, *, count_bytes: bool
    ) -> None:
        self.app = app
        self.worker = worker
        self.policy = policy
        self.count_bytes = count_bytes
        mode = str(getattr(worker.cfg, "asgi_lifespan", "auto") or "auto").lower()
        self.lifespan = LifespanModes(app, worker, mode)

    async def __call__(
        self,
        scope: Any,
        receive: Any,
        send: Any,
        sync_spawn: Callable[..., Any],
        call_soon: Callable[..., Any],
    ) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self.lifespan(scope, receive, send, sync_spawn, call_soon)
            return
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send, sync_spawn, call_soon)
            return
        refusal = self.policy.check(scope)
        if refusal is not None:
            await self._refuse(scope, send, *refusal)
            return
        closing = self.worker._count_request()
        if kind == "http" and (closing or self.count_bytes):
            send = self._wrap_send(scope, send, closing=closing)
        await self.app(scope, receive, send, sync_spawn, call_soon)

    async def _refuse(self, scope: Any, send: Any, status: int, reason: str, detail: str) -> None:
        client = scope.get("client") or ("",)
        self.worker.log.warning("Invalid request from ip=%s: %s", client[0], detail)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = f"{reason}: {detail}\n".encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _wrap_send(
        self, scope: Any, send: Any, *, closing: bool
    ) -> Callable[[Any], Awaitable[None]]:
        # [body bytes sent, final body handed to hypercorn]: for the access log.
        record = [0, 0]
        if self.count_bytes:
            scope[SENT_KEY] = record

        async def gated_send(message: Any) -> None:
            kind = message["type"]
            if kind == "http.response.body":
                record[0] += len(message.get("body", b""))
                if not message.get("more_body", False):
                    record[1] = 1
            elif closing and kind == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", ()), (b"connection", b"close")]
            await send(message)

        return gated_send
