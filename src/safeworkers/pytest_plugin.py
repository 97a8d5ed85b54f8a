"""pytest fixtures that run your app under real gunicorn and hypercorn servers.

Installed with safeworkers and loaded by pytest on its own (a ``pytest11``
entry point). Loading it imports nothing but pytest: the servers, and
:mod:`safeworkers.testing`, are imported when a test uses them.

``safeworkers_server``
    A factory: ``safeworkers_server("myapp:app", worker="safeworkers.GeventWorker")``
    starts gunicorn (``server="hypercorn"`` for hypercorn) on a free loopback
    port (``unix=True``: a Unix socket), waits until it answers, and returns a
    :class:`safeworkers.testing.Server` (``url``, ``log``, ``fetch()``,
    ``get()`` with httpx). Every server is stopped when the test ends. Other
    keywords (``simulate``, ``env``, ``args``, ``ready_timeout``, ...) go to
    :func:`safeworkers.testing.start`.
``safeworkers_assert_boots``
    ``safeworkers_assert_boots("myapp:app", worker=..., simulate="darwin",
    path="/")`` boots the app, sends one request and fails the test, with the
    one-line cause and the log, unless it is answered below 500.
``@pytest.mark.safeworkers_boots(APP, worker=..., simulate=..., path=...)``
    The same check before the test body runs; stack several marks for several
    workers.

Servers start in the current directory, with pytest's rootdir and its
``pythonpath`` ini entries on ``PYTHONPATH``, so they import what the tests
import.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from safeworkers.testing import Fetched, Server

MARKER = "safeworkers_boots"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(app, *, worker=None, server='gunicorn', simulate=None, path='/'): "
        "boot APP under the worker (with Trio's platform simulated) and fail unless "
        "it answers GET path below 500 (safeworkers)",
    )


def _pythonpath(config: pytest.Config) -> list[str]:
    paths = [str(config.rootpath)]
    with contextlib.suppress(ValueError):  # pytest < 7 has no such ini option
        paths += [str(p) for p in config.getini("pythonpath")]
    return paths


def _start(config: pytest.Config, app: str, **options: Any) -> Server:
    from safeworkers import testing

    server = options.pop("server", "gunicorn")
    args = options.pop("args", ())
    options.setdefault("pythonpath", _pythonpath(config))
    options.setdefault("cwd", os.getcwd())
    return testing.start(server, app, *args, **options)


def assert_boots(
    config: pytest.Config,
    app: str,
    *,
    worker: str | None = None,
    server: str = "gunicorn",
    simulate: str | None = None,
    path: str = "/",
    timeout: float = 30.0,
    **options: Any,
) -> Fetched:
    """Boot ``app``, ``GET path``; fail the test with the cause unless the status is < 500."""
    from safeworkers import testing
    from safeworkers.testing import one_line_cause

    what = f"{app} under {server} -k {worker or '(default)'}"
    if simulate:
        what += f" with Trio seeing {simulate}"
    running = _start(
        config, app, server=server, worker=worker, simulate=simulate, wait=False, **options
    )
    try:
        try:
            response = running.wait_ready(timeout, path=path)
        except testing.ServerNotReady:  # stopped already, or exited by itself
            cause = one_line_cause(running.log) or "no answer"
            pytest.fail(f"{what} does not serve: {cause}\n--- server log ---\n{running.log}")
        if response.status >= 500:
            cause = one_line_cause(running.log) or ""
            pytest.fail(
                f"{what} answers {response.status}: {cause}\n--- server log ---\n{running.log}"
            )
        return response
    finally:
        running.stop()


@pytest.fixture
def safeworkers_server(request: pytest.FixtureRequest) -> Iterator[Callable[..., Server]]:
    """Factory: start a real server for an app; all are stopped at teardown."""
    started: list[Server] = []

    def start(app: str, **options: Any) -> Server:
        server = _start(request.config, app, **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def safeworkers_assert_boots(request: pytest.FixtureRequest) -> Callable[..., Fetched]:
    """``safeworkers_assert_boots(app, worker=..., simulate=..., path="/")``."""

    def check(app: str, **options: Any) -> Fetched:
        return assert_boots(request.config, app, **options)

    return check


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    for mark in item.iter_markers(MARKER):
        assert_boots(item.config, *mark.args, **mark.kwargs)
