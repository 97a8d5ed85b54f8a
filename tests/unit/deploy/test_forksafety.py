"""safeworkers.deploy.forksafety: what gunicorn's master does on macOS, with made-up settings.

The real master, forking real workers under the simulation of macOS, is in
tests/integration/test_forksafety.py.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from safeworkers.deploy import forksafety
from safeworkers.facts import forksafety as facts

MACOS_DEFAULT = {"exclude_simple": False, "exceptions": ("*.local", "169.254/16")}


class Log:
    """What gunicorn's logger offers the master: warning, info, error; error_log."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.error_log = logging.getLogger(f"test.forksafety.{id(self)}")
        self.error_log.propagate = False

    def _say(self, level: str, message: str, *args: Any) -> None:
        self.lines.append((level, message % args))

    def warning(self, message: str, *args: Any) -> None:
        self._say("warning", message, *args)

    def info(self, message: str, *args: Any) -> None:
        self._say("info", message, *args)

    def error(self, message: str, *args: Any) -> None:
        self._say("error", message, *args)


@pytest.mark.parametrize(
    ("proxies", "settings", "expected", "notes"),
    [
        ({}, MACOS_DEFAULT, {"no_proxy": "*"}, 0),  # no proxy: urllib reads the environment
        (
            {"http": "http://proxy:3128", "https": "http://proxy:3128"},
            MACOS_DEFAULT,
            {
                "http_proxy": "http://proxy:3128",
                "https_proxy": "http://proxy:3128",
                "no_proxy": ".local,169.254.0.0/16",
            },
            0,
        ),
        (
            {"HTTPS": "http://proxy:3128", "ftp": ""},
            {"exclude_simple": True, "exceptions": ("10/8", "intranet.example", "10/8")},
            {"https_proxy": "http://proxy:3128", "no_proxy": "10.0.0.0/8,intranet.example"},
            1,  # "exclude simple hostnames" has no no_proxy form
        ),
    ],
)
def test_proxy_environment(
    proxies: dict[str, str], settings: dict[str, Any], expected: dict[str, str], notes: int
) -> None:
    env, said = forksafety.proxy_environment(proxies, settings)
    assert env == expected
    assert len(said) == notes


def test_handover_sets_what_urllib_reads_once() -> None:
    log, environ = Log(), {"PATH": "/bin"}
    calls: list[int] = []

    def lookup() -> tuple[dict[str, str], dict[str, Any]]:
        calls.append(1)
        return {"http": "http://proxy:3128"}, MACOS_DEFAULT

    handed = forksafety.hand_over_proxies(log, environ, lookup)
    assert handed == {"http_proxy": "http://proxy:3128", "no_proxy": ".local,169.254.0.0/16"}
    assert environ[facts.HANDOVER_VARIABLE] == "http_proxy,no_proxy"
    assert "handed to the workers (http_proxy=http://proxy:3128, no_proxy=" in log.lines[0][1]
    assert forksafety.hand_over_proxies(log, environ, lookup) == {}  # the next worker's fork
    assert len(calls) == 1


def test_the_users_proxy_settings_win_and_are_never_read_over() -> None:
    log, environ = Log(), {"HTTPS_PROXY": "http://mine:8080"}

    def lookup() -> tuple[dict[str, str], dict[str, Any]]:
        raise AssertionError("macOS must not be asked: the environment says it all")

    assert forksafety.hand_over_proxies(log, environ, lookup) == {}
    assert environ == {"HTTPS_PROXY": "http://mine:8080"}
    assert log.lines == [
        (
            "info",
            "safeworkers: proxy settings come from the environment (HTTPS_PROXY): workers never "
            "ask macOS for them",
        )
    ]


def test_a_failed_lookup_warns_with_the_fix() -> None:
    log, environ = Log(), {}

    def lookup() -> tuple[dict[str, str], dict[str, Any]]:
        raise forksafety.ProxyLookupError("ModuleNotFoundError: No module named '_scproxy'")

    assert forksafety.hand_over_proxies(log, environ, lookup) == {}
    assert environ == {}
    ((level, line),) = log.lines
    assert level == "warning"
    assert "NO_PROXY=*" in line
    assert "_scproxy" in line


def test_the_master_explains_a_worker_killed_by_sigabrt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(facts.SIMULATE_VARIABLE, "darwin")
    monkeypatch.delenv(facts.OBJC_VARIABLE, raising=False)
    log = Log()
    forksafety.watch_worker_deaths(log)
    forksafety.watch_worker_deaths(log)  # every fork asks; one handler
    assert len(log.error_log.handlers) == 1
    log.error_log.warning("Worker (pid:%s) was sent %s!", 42, "SIGABRT")  # gunicorn 27
    log.error_log.error("Worker (pid:43) was sent SIGSEGV!")  # gunicorn 23, 25
    log.error_log.info("Worker (pid:%s) was sent %s!", 44, "SIGTERM")  # a stop: nothing to say
    log.error_log.error("Worker with pid 45 was terminated due to signal 6")  # gunicorn 20-22
    said = [line for level, line in log.lines if level == "error"]
    assert [line.split(":", 2)[1] for line in said] == [
        " worker 42 was killed by SIGABRT",
        " worker 43 was killed by SIGSEGV",
        " worker 45 was killed by SIGABRT",
    ]
    assert "the Objective-C fork-safety check" in said[0]
    assert "OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES gunicorn" in said[0]


def test_nothing_happens_off_macos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(facts.SIMULATE_VARIABLE, raising=False)
    monkeypatch.setattr(forksafety, "_prepared", False)
    log = Log()
    forksafety.prepare_master(log)
    assert log.lines == []
    assert log.error_log.handlers == []
    environ: dict[str, str] = {}
    forksafety.restart_with_objc_fork_safety_off(environ, execv=_no_exec)
    assert environ == {}


def _no_exec(path: str, argv: list[str]) -> object:
    raise AssertionError(f"exec {path} {argv}")


def test_prepare_master_once_on_macos(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(facts.SIMULATE_VARIABLE, "darwin")
    monkeypatch.delenv(facts.OBJC_VARIABLE, raising=False)
    monkeypatch.setenv("no_proxy", "localhost")  # the user's: nothing is read or set
    monkeypatch.setattr(forksafety, "_prepared", False)
    log = Log()
    forksafety.prepare_master(log)
    forksafety.prepare_master(log)
    warnings = [line for level, line in log.lines if level == "warning"]
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "safeworkers: OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES was not in the environment when "
        "gunicorn started"
    )
    assert "setting it later, from Python, has no effect" in warnings[0]


def test_restart_runs_the_same_command_with_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[tuple[str, list[str]]] = []
    environ = {facts.SIMULATE_VARIABLE: "darwin"}
    monkeypatch.setattr("sys.orig_argv", ["/venv/bin/python", "/venv/bin/gunicorn", "-c", "g.py"])
    forksafety.restart_with_objc_fork_safety_off(environ, execv=lambda p, a: ran.append((p, a)))
    assert environ[facts.OBJC_VARIABLE] == "YES"
    assert ran
    assert ran[0][1] == ["/venv/bin/python", "/venv/bin/gunicorn", "-c", "g.py"]
    # The user's value, whatever it is, wins: no restart.
    mine = {facts.SIMULATE_VARIABLE: "darwin", facts.OBJC_VARIABLE: "NO"}
    forksafety.restart_with_objc_fork_safety_off(mine, execv=_no_exec)
    assert mine[facts.OBJC_VARIABLE] == "NO"
