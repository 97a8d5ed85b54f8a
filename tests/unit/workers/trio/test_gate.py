"""TrioWorker's gate: the refusals h2 would not make, decided on the scope alone.

HTTP/1.x requests are checked before they become a scope, by the strict framer
(tests/unit/workers/trio/test_http1.py); the gate only applies scheme headers to them.
"""

from __future__ import annotations

from typing import Any

import pytest
from gunicorn.config import Config

from safeworkers.workers.trio.gate import Policy


def scope(*headers: tuple[bytes, bytes], version: str = "2") -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "http_version": version,
        "headers": [(b"host", b"x"), *headers],
        "client": ("127.0.0.1", 5000),
        "scheme": "http",
    }


CL = (b"content-length", b"3")
TE = (b"transfer-encoding", b"chunked")


@pytest.mark.parametrize(
    ("request_scope", "status"),
    [
        (scope(CL), None),
        (scope(TE), None),
        (scope(CL, TE), 400),
        (scope(TE, CL), 400),
        (scope(CL, TE, version="1.1"), None),
        (scope(version="9.9"), 400),
        (scope(version="1.0"), None),
        (scope((b"expect", b"100-continue")), None),
        (scope((b"expect", b"42-fail")), 417),
        (scope((b"upgrade", b"a\x01b")), 400),
        (scope((b"x-tab", b"a\tb")), None),
    ],
    ids=[
        "cl",
        "te",
        "cl+te",
        "te+cl",
        "http11-checked-by-the-framer",
        "version-9.9",
        "http10",
        "expect-100",
        "expect-other",
        "control-char",
        "tab-is-fine",
    ],
)
def test_framing_and_header_checks(request_scope: dict[str, Any], status: int | None) -> None:
    refusal = Policy(Config()).check(request_scope)
    assert (refusal[0] if refusal else None) == status, refusal
