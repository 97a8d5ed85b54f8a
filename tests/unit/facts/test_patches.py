"""Patch state and whether Trio can run: safeworkers.facts.patches, with its pollers faked."""

from __future__ import annotations

import sys

import pytest

from safeworkers.facts import patches


def test_trio_backend_reason_mirrors_trios_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Off Linux, Trio takes epoll or kqueue, whichever select has; on Linux only epoll."""
    import select

    monkeypatch.setattr(patches, "_current_poller", lambda: "epoll")
    monkeypatch.setattr(sys, "platform", "freebsd14")
    assert patches.trio_unusable_reason("kqueue", {}) is None
    monkeypatch.setattr(patches, "_current_poller", lambda: None)
    reason = patches.trio_unusable_reason("kqueue", {"select": "gevent"})
    assert (
        reason == "select.kqueue was removed by gevent's monkey-patching; Trio's I/O loop needs it"
    )
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(patches, "_current_poller", lambda: "kqueue")
    assert "select.epoll" in str(patches.trio_unusable_reason("epoll", {}))
    assert select  # the real module is untouched


def test_unknown_remover_is_not_named_as_a_patcher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patches, "_current_poller", lambda: None)
    monkeypatch.setattr(sys, "platform", "linux")
    reason = patches.trio_unusable_reason("epoll", {"select": "unknown"})
    assert reason is not None
    assert "unknown's" not in reason
    assert "removed by something other than gevent or eventlet" in reason
