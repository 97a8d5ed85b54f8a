"""TrioWorker's gate: the refusals h11 would not make, decided on the scope alone."""

from __future__ import annotations

from typing import Any

import pytest
from gunicorn.config import Config

from safeworkers.workers.trio.gate import Policy


def scope(*headers: tuple[bytes, bytes], version: str = "1.1") -> dict[str, Any]:
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
        (scope(TE, version="1.0"), 400),
        (scope(CL, version="1.0"), None),
        (scope(version="9.9"), 400),
        (scope(version="2"), None),
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
        "te-http10",
        "cl-http10",
        "version-9.9",
        "http2",
        "expect-100",
        "expect-other",
        "control-char",
        "tab-is-fine",
    ],
)
def test_framing_and_header_checks(request_scope: dict[str, Any], status: int | None) -> None:
    refusal = Policy(Config()).check(request_scope)
    assert (refusal[0] if refusal else None) == status, refusal
