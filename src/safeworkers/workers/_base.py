"""What every safeworkers worker adds to its gunicorn base class.

Each concrete worker is ``class X(SafeWorkerMixin, <gunicorn worker>)``. The
mixin validates settings before anything else happens in the worker process,
logs one start-up line, and tunes each accepted connection according to what
it is (``TCP_NODELAY`` and keepalive only on TCP).

gunicorn builds each worker object in the master, right before it forks; the
mixin's ``__init__`` uses that moment for what the master must do before
forking on macOS (:func:`safeworkers.deploy.forksafety.prepare_master`), and
imports nothing of it elsewhere.
After the app is loaded, a worker on a free-threaded Python says what the GIL
does there (:func:`safeworkers.facts.freethreading.worker_note`).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from safeworkers import settings as settings_mod
from safeworkers import sockets
from safeworkers.facts import macos

if TYPE_CHECKING:
    from safeworkers.facts.appscan import AppScan
    from safeworkers.settings import Settings

#: gunicorn's exit status for "Worker failed to boot" (arbiter.WORKER_BOOT_ERROR):
#: the arbiter stops the whole server instead of respawning forever.
WORKER_BOOT_ERROR = 3
#: The worker attribute that records that the after-patch hook was called (see _afterpatch).
AFTER_PATCH_CALLED = "safeworkers_after_patch_called"


class WorkerBootError(Exception):
    """A worker cannot start; the message says why and what to do."""


def boot_failure(log: Any, message: str) -> None:
    """Log ``message`` as one error line and stop the worker as a boot failure."""
    log.error("safeworkers: %s", message)
    sys.exit(WORKER_BOOT_ERROR)


class SafeWorkerMixin:
    """Settings, start-up logging and per-connection socket tuning."""

    #: The name users pass to ``-k`` (``safeworkers.<name>``).
    safeworkers_name: ClassVar[str] = "Worker"
    #: What this worker adds over its upstream class, for the start-up line.
    safeworkers_adds: ClassVar[str] = "socket tuning"
    #: The app kinds it serves: a WSGI-only worker refuses an ASGI app at boot
    #: (it would answer 500 to every request).
    safeworkers_serves: ClassVar[tuple[str, ...]] = ("wsgi", "asgi")
    #: Whether it calls SAFEWORKERS_AFTER_PATCH (green workers: see _afterpatch.py).
    safeworkers_calls_after_patch: ClassVar[bool] = False

    if TYPE_CHECKING:
        log: Any
        cfg: Any
        pid: Any

    _sw_settings: Settings | None = None
    #: listener key -> options applied to it (first connection unchecked), or
    #: whether its connections carry them; absent: tune every connection.
    _sw_listeners: dict[object, dict[str, object] | bool] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # In the master (the worker's parent), just before it forks this worker; not
        # when AutoWorker, in the worker, runs the chosen class's __init__. On macOS only:
        # elsewhere nothing of it is imported (it is on every boot's way).
        if os.getpid() == getattr(self, "ppid", None) and macos.darwin():
            from safeworkers.deploy import forksafety

            forksafety.prepare_master(self.log)

    @property
    def safeworkers_settings(self) -> Settings:
        if self._sw_settings is None:
            self._sw_settings = settings_mod.load()
        return self._sw_settings

    def safeworkers_settings_or_stop(self) -> Settings:
        """The validated settings; a bad value stops the worker as a boot failure."""
        try:
            return self.safeworkers_settings
        except settings_mod.SettingsError as exc:
            boot_failure(self.log, str(exc))
            raise  # unreachable: boot_failure exits

    def safeworkers_details(self, current: Settings) -> str:
        """Worker-specific facts for the start-up line (override to add some)."""
        return ""

    def safeworkers_start(self) -> Settings:
        """Validate settings (stopping the worker on a bad value) and log the start line.

        Call it first thing in ``init_process``, before anything patches.
        """
        current = self.safeworkers_settings_or_stop()
        extra = self.safeworkers_details(current)
        keepalive = current.tcp_keepalive
        self.log.info(
            "safeworkers %s (pid %s): %s%s; tcp keepalive %s",
            self.safeworkers_name,
            self.pid,
            self.safeworkers_adds,
            f"; {extra}" if extra else "",
            "idle={},interval={},count={}".format(*keepalive) if keepalive else "off",
        )
        called = getattr(self, AFTER_PATCH_CALLED, False)  # by AutoWorker
        if current.after_patch and not self.safeworkers_calls_after_patch and not called:
            self.log.warning(
                "safeworkers %s: SAFEWORKERS_AFTER_PATCH=%s is not called: this worker does not "
                "monkey-patch (GeventWorker and EventletWorker call it)",
                self.safeworkers_name,
                current.after_patch,
            )
        self.tune_listeners(getattr(self, "sockets", None) or [])
        return current

    def load_wsgi(self) -> None:
        super().load_wsgi()  # type: ignore[misc]
        self.safeworkers_note_gil()
        if "asgi" in self.safeworkers_serves:
            return
        from safeworkers.facts import app

        if app.app_kind(getattr(self, "wsgi", None)) != "asgi":
            return
        backend = self.safeworkers_settings.backend
        if backend != "auto":  # AutoWorker became this worker on SAFEWORKERS_BACKEND's word
            boot_failure(
                self.log,
                f"SAFEWORKERS_BACKEND={backend} serves WSGI apps, but this app is ASGI: "
                "use trio, asgi or auto",
            )
        boot_failure(self.log, self._asgi_app_message())

    def safeworkers_note_gil(self) -> None:
        """On a free-threaded Python, say what the GIL does for this worker (once the
        app, and a green worker's library, are imported: either can re-enable it)."""
        if not hasattr(sys, "_is_gil_enabled"):  # before 3.13: no free-threaded build
            return
        from safeworkers.decision import registry
        from safeworkers.facts import freethreading

        if not freethreading.free_threaded_build():
            return
        row = registry.ours(self.safeworkers_name)
        note = freethreading.worker_note(
            freethreading.gil_state(),
            self.safeworkers_name,
            green=bool(row is not None and row.patches),
            threads=int(getattr(self.cfg, "threads", 1) or 1),
        )
        if note is not None:
            level, message = note
            getattr(self.log, level)("%s", message)

    def _asgi_app_message(self) -> str:
        """Why this WSGI-only worker refuses the ASGI app it loaded, and what to do instead."""
        name = f"safeworkers.{self.safeworkers_name}"
        decision = getattr(self, "safeworkers_decision", None)  # set when AutoWorker chose us
        code = self.safeworkers_code()
        if code.patches:
            return (
                f"this ASGI app monkey-patches the process when imported "
                f"({code.patch_evidence()}), and {name} serves WSGI apps only (it would answer "
                "500 to every request): an ASGI app cannot be served by a green WSGI worker. "
                "Remove the monkey-patching call from the app's code; AutoWorker then serves "
                "the app with an asyncio worker"
            )
        if decision is not None:
            return (
                f"AutoWorker chose {name} ({'; '.join(decision.choice.reasons)}), but this app "
                "is ASGI and that worker serves WSGI apps only: serve it with -k asgi or "
                "-k safeworkers.TrioWorker"
            )
        return (
            f"{name} serves WSGI apps, but this app is ASGI (it would answer 500 to every "
            "request): serve it with -k safeworkers.AutoWorker, -k asgi or "
            "-k safeworkers.TrioWorker"
        )

    def safeworkers_app_module(self) -> str:
        """The module gunicorn imports the app from (MODULE of MODULE:APP); "" if unknown."""
        from safeworkers.deploy import target

        uri = getattr(getattr(self, "app", None), "app_uri", None) or getattr(
            self.cfg, "wsgi_app", None
        )
        return target.module_of(uri) if isinstance(uri, str) else ""

    _sw_code: AppScan | None = None

    def safeworkers_code(self) -> AppScan:
        """What the app's code shows (read once per worker; AutoWorker's reading if it chose)."""
        if self._sw_code is None:
            decision = getattr(self, "safeworkers_decision", None)  # set when AutoWorker chose us
            code = getattr(decision, "code", None)
            if code is None:
                from safeworkers.facts import appscan

                code = appscan.scan(self.safeworkers_app_module(), appscan.import_path())
            self._sw_code = code
        return self._sw_code

    def safeworkers_code_may_show(self, words: tuple[str, ...]) -> bool:
        """Whether the app's code may show what only a file spelling one of ``words`` shows.

        Asked before :meth:`safeworkers_code` by the workers that refuse on what
        few apps show (:data:`~safeworkers.facts.appfiles.ASK_WORDS`,
        :data:`~safeworkers.facts.appfiles.PATCH_WORDS`): the files the scan could
        read, read as text, cost a fraction of the scan and of the imports it needs.
        ``False`` is certain; the code read already answers for itself.
        """
        if self._sw_code is not None or getattr(self, "safeworkers_decision", None) is not None:
            return True
        from safeworkers.facts import appfiles

        return appfiles.may_show(self.safeworkers_app_module(), appfiles.import_path(), words)

    def app_patcher(self) -> tuple[str, str] | None:
        """(library, where) when the app's code monkey-patches at import where it runs here."""
        from safeworkers.facts import drivers

        code = self.safeworkers_code()
        for library, use in code.patches:
            if not use.optional or drivers.importable(library):
                return library, code.evidence([use])
        return None

    def refuse_self_patching_app(self, threads: str) -> None:
        """Stop at boot when the app patches the process: ``threads`` would run on the hub."""
        found = self.app_patcher()
        if found is None:
            return
        library, where = found
        boot_failure(
            self.log,
            f"safeworkers.{self.safeworkers_name} cannot serve this app: it monkey-patches the "
            f"process with {library} when imported ({where}), after this worker started "
            f"{threads}: they would then wait on {library}'s hub and requests would hang. "
            f"Serve it with -k safeworkers.{library.capitalize()}Worker (or "
            "-k safeworkers.AutoWorker, which picks it)",
        )

    def refuse_asking_app(self) -> None:
        """Stop at boot when the app's code asks for a green library this worker does not run
        (Flask-SocketIO ``async_mode="gevent"``, gevent-websocket): it would boot, answer
        plain requests, and leave every WebSocket and long poll waiting."""
        from safeworkers.decision import refusals, registry

        code = self.safeworkers_code()
        row = registry.ours(self.safeworkers_name)
        if not code.asked_for or row is None:
            return
        reason = refusals.asked_refusal(row, code.asked_for[0], code.ask_evidence())
        if reason is not None:
            boot_failure(
                self.log,
                f"safeworkers.{self.safeworkers_name} cannot serve this app: {reason} "
                "(or -k safeworkers.AutoWorker, which picks it)",
            )

    def refuse_other_patcher(self, library: str) -> None:
        """Stop at boot when another green library has patched this process already, or the
        app's code patches with it when imported, or asks for it."""
        from safeworkers.facts import patches

        self.refuse_asking_app()
        patched = patches.patch_state()
        others = sorted(set(patches.green_patchers(patched)) - {library})
        found = self.app_patcher()
        if not others and found is not None and found[0] != library:
            other, where = found
            boot_failure(
                self.log,
                f"safeworkers.{self.safeworkers_name} cannot serve this app: it monkey-patches "
                f"the process with {other} when imported ({where}), and this worker patches it "
                f"with {library} first: two patchers in one process break each other (errors "
                "such as 'cannot release un-acquired lock'). Serve it with "
                f"-k safeworkers.{other.capitalize()}Worker (or -k safeworkers.AutoWorker, "
                "which picks it)",
            )
        if not others:
            return
        other = others[0]
        modules = ", ".join(sorted(m for m, who in patched.items() if who == other))
        boot_failure(
            self.log,
            f"safeworkers.{self.safeworkers_name} cannot start: this process is already "
            f"monkey-patched by {other} ({modules}; in gunicorn.conf.py, a --preload app or the "
            f"app module), and {library} would patch it again: two patchers in one process "
            f"break each other. Serve it with -k safeworkers.{other.capitalize()}Worker, "
            f"or remove the {other} patching",
        )

    def tune_listeners(self, listeners: Iterable[Any]) -> None:
        """Apply the connection options to each TCP listener, once, at worker start.

        Linux copies a listener's options onto every connection it accepts,
        so once the first connection from a listener shows they came along
        (:func:`safeworkers.sockets.carries`), ``tune_client`` skips the
        others: no system call per connection on the hot path. MPTCP
        listeners are not trusted this way (their plain-TCP children are
        made differently), and where options are not inherited every
        connection is tuned as before.
        """
        keepalive = self.safeworkers_settings.tcp_keepalive
        self._sw_listeners = {}
        for listener in listeners:
            try:
                applied = sockets.tune_connection(listener, keepalive=keepalive)
                if applied.get("protocol") not in ("tcp", "mptcp"):
                    continue
                address = listener.getsockname()
                self.log.info(
                    "safeworkers: tcp options on listener %s (inherited by its connections "
                    "where the kernel copies them): %s",
                    address,
                    applied,
                )
                if applied["protocol"] == "tcp":
                    for key in (listener.fileno(), _address_key(address)):
                        self._sw_listeners[key] = applied
            except OSError as exc:
                self.log.warning("safeworkers: could not tune listener %s: %s", listener, exc)

    def tune_client(self, client: socket.socket, listener_key: object = None) -> None:
        """Give an accepted connection the options that fit its transport.

        ``listener_key`` (the listener's fileno, or its address) lets a
        connection from a listener whose options are known to be inherited
        skip all work; see :meth:`tune_listeners`.
        """
        known = self._sw_listeners.get(listener_key) if listener_key is not None else None
        if known is True:
            return
        try:
            if known:  # first connection from a tuned listener: did the options come along?
                inherited = sockets.carries(client, known)
                self._sw_listeners[listener_key] = inherited
                if inherited:
                    return
            sockets.tune_connection(client, keepalive=self.safeworkers_settings.tcp_keepalive)
        except OSError as exc:  # the peer may already be gone; never fail the request
            self.log.debug("safeworkers: could not tune connection: %s", exc)


def guard_details(current: Settings) -> str:
    """The import guard's state, for a green worker's start-up line."""
    modules = ",".join(current.guard_modules)
    if current.guard == "off":
        return "guard=off: no Trio import guard (SAFEWORKERS_GUARD=off)"
    return f"guard={current.guard} ({modules})"


def _address_key(address: Any) -> object:
    """A hashable form of a socket address (gthread keys connections by it)."""
    return tuple(address) if isinstance(address, list) else address


def find_missing(*modules: str) -> ImportError | None:
    """The import error for the first of ``modules`` that is not installed, else ``None``.

    Looks modules up without importing them, so the master stays free of
    gevent, eventlet, trio and hypercorn until a worker needs them.
    """
    for name in modules:
        try:
            spec = importlib.util.find_spec(name)
        except ImportError as exc:
            return exc
        if spec is None:
            return ModuleNotFoundError(f"No module named {name!r}", name=name)
    return None


def missing_extra_worker(name: str, extra: str, error: Exception) -> type:
    """A stand-in worker class for when an optional dependency is missing.

    gunicorn imports the worker class in the master; failing there prints a
    traceback inside "class uri invalid or not found". Instead the stand-in
    loads fine and its worker stops at boot with one line saying what to
    install, and gunicorn reports "Worker failed to boot".
    """
    from gunicorn.workers.base import Worker

    if isinstance(error, ImportError) and error.name:
        problem = f"needs {error.name}, which is not installed"
    else:  # e.g. gunicorn's "gevent worker requires gevent 24.10.1 or higher"
        problem = f"cannot load: {error}"

    def init_process(self: Any) -> None:
        boot_failure(self.log, f"safeworkers.{name} {problem}: pip install 'safeworkers[{extra}]'")

    return type(name, (Worker,), {"init_process": init_process, "__module__": __name__})
