"""safeworkers.facts.forksafety: macOS's fork-safety facts and gunicorn's signal lines, made up."""

from __future__ import annotations

import logging

import pytest

from safeworkers.facts import forksafety

MAC = {"PATH": "/usr/bin"}
SIMULATED = {forksafety.SIMULATE_VARIABLE: "darwin"}


@pytest.mark.parametrize(
    ("line", "found"),
    [
        # gunicorn 27: the message and its arguments, formatted by logging.
        (
            "[2026-12-04 10:00:00 +0000] [7] [WARNING] Worker (pid:42) was sent SIGABRT!",
            (42, "SIGABRT"),
        ),
        ("Worker (pid:42) was sent SIGSEGV!", (42, "SIGSEGV")),
        ("Worker (pid:42) was sent SIGKILL! Perhaps out of memory?", (42, "SIGKILL")),
        # gunicorn 23 and 25: pre-formatted; a number it cannot name.
        ("[ERROR] Worker (pid:42) was sent code 300!", (42, "code 300")),
        # gunicorn 20 to 22, in most of the reports users find.
        ("[ERROR] Worker with pid 42 was terminated due to signal 6", (42, "SIGABRT")),
        ("[ERROR] Worker with pid 42 was terminated due to signal 11", (42, "SIGSEGV")),
        ("[INFO] Booting worker with pid: 42", None),
        ("[ERROR] Worker (pid:42) exited with code 3.", None),
    ],
)
def test_worker_signal_reads_every_gunicorn_wording(line: str, found: object) -> None:
    assert forksafety.worker_signal(line) == found


def test_gunicorn_27s_record_is_read_after_formatting() -> None:
    record = logging.LogRecord(
        "gunicorn.error",
        logging.WARNING,
        "",
        0,
        "Worker (pid:%s) was sent %s!",
        (42, "SIGABRT"),
        None,
    )
    assert forksafety.worker_signal(record.getMessage()) == (42, "SIGABRT")


def test_state_on_linux_is_not_darwin() -> None:
    facts = forksafety.state({}, platform="linux")
    assert not facts.darwin
    assert not facts.simulated
    assert forksafety.crash_cause("SIGABRT", facts) is None


def test_state_reads_the_simulation_and_the_variables() -> None:
    facts = forksafety.state({**SIMULATED, "HTTPS_PROXY": "http://p:3128", "no_proxy": ""}, "linux")
    assert facts.darwin
    assert facts.simulated
    assert facts.objc_value is None
    assert not facts.objc_check_disabled
    assert facts.proxy_variables == ("HTTPS_PROXY",)  # an empty one does not count, as in urllib
    assert not facts.proxies_from_system
    assert "from the environment (HTTPS_PROXY)" in facts.proxy_state()
    assert facts.to_dict()["proxy_variables"] == ["HTTPS_PROXY"]


@pytest.mark.parametrize(
    ("value", "disabled"),
    [("YES", True), ("yes", True), (" YES ", True), ("NO", False), ("1", False), (None, False)],
)
def test_objc_value(value: str | None, disabled: bool) -> None:
    environ = {} if value is None else {forksafety.OBJC_VARIABLE: value}
    facts = forksafety.state(environ, platform="darwin")
    assert facts.objc_check_disabled is disabled
    assert facts.objc_state().startswith("off" if disabled else "on")


def test_crash_cause_names_the_check_the_fix_and_the_proxies() -> None:
    facts = forksafety.state(MAC, platform="darwin")
    cause = forksafety.crash_cause("SIGABRT", facts)
    assert cause is not None
    assert "may have been in progress in another thread when fork() was called" in cause
    assert "OBJC_DISABLE_INITIALIZE_FORK_SAFETY=YES gunicorn" in cause
    assert "NO_PROXY=*" in cause  # the proxies still come from macOS
    assert forksafety.crash_cause("SIGTERM", facts) is None
    assert forksafety.crash_cause("SIGKILL", facts) is None  # out of memory, not forking


def test_crash_cause_after_the_handover_and_with_the_check_off() -> None:
    handed = forksafety.state(
        {"no_proxy": "*", forksafety.HANDOVER_VARIABLE: "no_proxy"}, platform="darwin"
    )
    cause = forksafety.crash_cause("SIGSEGV", handed)
    assert cause is not None
    assert "NO_PROXY" not in cause
    assert "handed over by the gunicorn master (no_proxy)" in handed.proxy_state()
    off = forksafety.state({forksafety.OBJC_VARIABLE: "YES"}, platform="darwin")
    cause = forksafety.crash_cause("SIGABRT", off)
    assert cause is not None
    assert "not the Objective-C fork-safety check" in cause
    assert "PYTHONFAULTHANDLER=1" in cause
    assert forksafety.crash_hint("SIGABRT", off) is not None
    assert "OBJC_DISABLE" in str(forksafety.crash_hint("SIGBUS", handed))
