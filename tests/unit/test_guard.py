"""The guard in this process, on throwaway modules (nothing here patches)."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from safeworkers import guard


@pytest.fixture
def fake_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A package that fails the way Trio does, plus one that imports fine."""
    pkg = tmp_path / "fakebackend"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from fakebackend import _core\n")
    (pkg / "_core.py").write_text(
        "raise NotImplementedError('unsupported platform or primitives are monkey-patched out')\n"
    )
    (tmp_path / "finebackend.py").write_text("VALUE = 42\n")
    (tmp_path / "buggybackend.py").write_text("raise AttributeError('a plain bug')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    guard.uninstall()
    for name in list(sys.modules):
        if name.split(".")[0] in ("fakebackend", "finebackend", "buggybackend"):
            del sys.modules[name]


def test_failure_becomes_backend_unavailable(fake_backend: Path) -> None:
    guard.install(["fakebackend"])
    with pytest.raises(guard.BackendUnavailable) as info:
        importlib.import_module("fakebackend")
    assert isinstance(info.value, ImportError)
    assert isinstance(info.value.__cause__, NotImplementedError)
    assert "fakebackend cannot be used in this process" in str(info.value)
    assert "fakebackend._core" not in sys.modules  # half-imported submodule purged
    # Later imports fail the same way, without running the module again.
    with pytest.raises(guard.BackendUnavailable) as again:
        importlib.import_module("fakebackend")
    assert str(again.value) == str(info.value)


def test_without_guard_the_raw_error_escapes(fake_backend: Path) -> None:
    with pytest.raises(NotImplementedError):
        importlib.import_module("fakebackend")


def test_guard_is_invisible_where_import_works(fake_backend: Path) -> None:
    guard.install(["finebackend"])
    module = importlib.import_module("finebackend")
    assert module.VALUE == 42
    assert type(module.__loader__).__name__ == "SourceFileLoader"
    assert module.__spec__ is not None
    assert module.__spec__.loader is module.__loader__


def test_plain_bugs_are_not_hidden_in_an_unpatched_process(fake_backend: Path) -> None:
    guard.install(["buggybackend"])
    with pytest.raises(AttributeError, match="a plain bug"):
        importlib.import_module("buggybackend")


def test_install_is_idempotent_and_uninstall_removes(fake_backend: Path) -> None:
    assert guard.install(["finebackend"])
    assert guard.install(["finebackend"])
    assert sum(isinstance(f, guard._Guard) for f in sys.meta_path) == 1
    assert guard.installed()
    assert guard.guarded_modules() == {"finebackend"}
    guard.uninstall()
    guard.uninstall()
    assert not guard.installed()
    assert not any(isinstance(f, guard._Guard) for f in sys.meta_path)


def test_off_mode_uninstalls(fake_backend: Path) -> None:
    guard.install()
    assert guard.install(mode="off") is False
    assert not guard.installed()


def test_bad_mode_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="'sometimes' is not one of guard, preimport, off"):
        guard.install(mode="sometimes")  # type: ignore[arg-type]


def test_concurrent_installs_leave_one_guard(fake_backend: Path) -> None:
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(50):
            guard.install(["finebackend"])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(f, guard._Guard) for f in sys.meta_path) == 1


def test_preimport_imports_now(fake_backend: Path) -> None:
    guard.install(["finebackend"], mode="preimport")
    assert "finebackend" in sys.modules


def test_preimport_of_a_failing_module_is_remembered(fake_backend: Path) -> None:
    guard.install(["fakebackend"], mode="preimport")
    with pytest.raises(guard.BackendUnavailable):
        importlib.import_module("fakebackend")


def test_backend_unavailable_pickles() -> None:
    import pickle

    error = guard.BackendUnavailable("trio", "a reason", patchers=("gevent",))
    clone = pickle.loads(pickle.dumps(error))
    assert str(clone) == str(error)
    assert clone.patchers == ("gevent",)


def test_a_module_name_string_is_one_module(fake_backend: Path) -> None:
    guard.install("finebackend")
    assert guard.guarded_modules() == {"finebackend"}


def test_install_puts_back_a_guard_someone_removed(fake_backend: Path) -> None:
    guard.install(["finebackend"])
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, guard._Guard)]
    assert not guard.installed()
    guard.install(["finebackend"])
    assert guard.installed()


def test_message_for_a_removal_nobody_owns_up_to() -> None:
    reason = (
        "select.epoll is missing from this process (removed by something other than gevent "
        "or eventlet); Trio's I/O loop needs it"
    )
    text = str(guard.BackendUnavailable("trio", reason))
    assert "nothing known" not in text
    assert "unknown's" not in text
    assert "Run on a platform" not in text  # Linux is a platform Trio supports
    assert "safeworkers.detect.patch_state() shows what is patched" in text


def test_message_for_a_platform_without_a_backend() -> None:
    from safeworkers.facts import process as detect

    reason = f"{detect.NO_BACKEND} 'plan9' (no epoll, kqueue or IOCP)"
    text = str(guard.BackendUnavailable("trio", reason))
    assert "Run on a platform that trio supports" in text


def test_message_names_the_worker_with_the_right_article() -> None:
    text = str(guard.BackendUnavailable("trio", "r", patchers=("eventlet",)))
    assert "do not serve it with an eventlet worker" in text
    text = str(guard.BackendUnavailable("trio", "r", patchers=("gevent",)))
    assert "do not serve it with a gevent worker" in text
