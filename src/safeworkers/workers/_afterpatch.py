"""The after-patch hook: user code that runs after a green worker patched, before the app loads.

Some integrations must be switched on *after* monkey-patching and before the
app's modules are imported: ``grpc.experimental.gevent.init_gevent()``,
psycogreen's ``patch_psycopg()``. gunicorn has no hook there: ``post_fork``
runs before a green worker patches, ``post_worker_init`` after the app is
loaded. The green workers call this one at the start of ``load_wsgi``: after
patching, after gunicorn applied ``--env`` and dropped privileges (as for the
app import itself), and right before the app is imported. AutoWorker in a
process that is monkey-patched already (``patch_all()`` in gunicorn.conf.py)
imports the app itself to decide: it calls the hook first, at the same point.

Where the hook comes from, first found wins:

1. ``SAFEWORKERS_AFTER_PATCH=module:function``, or several, comma-separated,
   called in order;
2. a function ``safeworkers_after_patch(worker)`` in the gunicorn config
   (``-c gunicorn.conf.py`` or ``-c python:module``). gunicorn drops names it
   does not know from the settings, but keeps the config module itself: a
   file as ``sys.modules["__config__"]`` (gunicorn 20.1 to 27), a
   ``python:`` config as the imported module. Workers are forked from the
   master, so the function is there, as the config defined it.

A hook is called the way it is written: one that takes no argument (the
integrations' own functions, ``psycogreen.gevent:patch_psycopg``,
``grpc.experimental.gevent:init_gevent``) with none, one that takes an
argument with the worker. A hook that cannot be imported, that takes
anything else, or that raises stops the worker as a boot failure ("Worker
failed to boot"), with one line that names the hook and the error: an
integration that did not switch on would serve broken requests.

Then, in the green workers, the cures of blocking drivers
(:mod:`safeworkers.workers._greendrivers`) run, and once the app is loaded
the drivers it imported are checked.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from safeworkers.deploy import target as _target
from safeworkers.workers import _blocking, _greendrivers
from safeworkers.workers._base import AFTER_PATCH_CALLED as CALLED
from safeworkers.workers._base import boot_failure

if TYPE_CHECKING:
    from safeworkers.settings import Settings

#: The name of the hook function in a gunicorn config.
CONFIG_NAME = "safeworkers_after_patch"
#: Where gunicorn keeps a config file's module (``gunicorn.app.base``).
_CONFIG_FILE_MODULE = "__config__"


def config_module(cfg: Any) -> Any:
    """The module gunicorn executed as its config, if it is still loaded."""
    location = getattr(cfg, "config", None)
    if not isinstance(location, str) or not location:
        return None
    if location.startswith("python:"):
        return sys.modules.get(location[len("python:") :])
    return sys.modules.get(_CONFIG_FILE_MODULE)


class HookError(Exception):
    """The configured hook cannot be loaded."""


#: What the error for a hook with another signature says is accepted.
ACCEPTED = "hook() or hook(worker)"


def find(current: Settings, cfg: Any) -> list[tuple[str, Callable[..., Any]]]:
    """``(where it was named, hook)`` for each configured hook, in calling order.

    Raises :class:`HookError` when a named hook cannot be loaded.
    """
    if current.after_patch:
        return [
            (f"SAFEWORKERS_AFTER_PATCH={name}", _load(name))
            for name in current.after_patch.split(",")
        ]
    module = config_module(cfg)
    hook = getattr(module, CONFIG_NAME, None) if module is not None else None
    if hook is None:
        return []
    source = getattr(module, "__file__", None) or cfg.config
    where = f"{CONFIG_NAME} in the gunicorn config ({source})"
    if not callable(hook):
        raise HookError(f"{where} is not a function: it is {type(hook).__name__}")
    return [(where, hook)]


def _load(target: str) -> Callable[..., Any]:
    try:
        return _target.load_function(target)
    except _target.TargetError as exc:
        raise HookError(f"SAFEWORKERS_AFTER_PATCH={target}: {exc}") from None


def takes_worker(hook: Callable[..., Any], where: str) -> bool:
    """Whether ``hook`` is called with the worker (it takes an argument) or with nothing.

    Raises :class:`HookError` for a hook that can be called neither way; a
    hook whose signature cannot be read (some built-ins) is called with nothing.
    """
    try:
        signature = inspect.signature(hook)
    except (TypeError, ValueError):
        return False
    try:
        signature.bind(None)
        return True
    except TypeError:
        pass
    try:
        signature.bind()
        return False
    except TypeError:
        pass
    parameters = ", ".join(
        str(p.replace(annotation=p.empty)) for p in signature.parameters.values()
    )
    raise HookError(
        f"{where} takes ({parameters}): an after-patch hook is called as {ACCEPTED}; wrap the call "
        "in a function of yours that takes the worker (or nothing)"
    )


def call(worker: Any) -> None:
    """Run the configured hooks, once; a failure stops the worker (boot failure).

    Once: AutoWorker in a process patched already calls them before importing
    the app, and the green worker it becomes then does not call them again.
    """
    if getattr(worker, CALLED, False):
        return
    setattr(worker, CALLED, True)
    try:
        hooks = find(worker.safeworkers_settings, worker.cfg)
        calls = [(where, hook, takes_worker(hook, where)) for where, hook in hooks]
    except HookError as exc:
        boot_failure(worker.log, f"after-patch hook: {exc}")
        return
    name = type(worker).__name__
    for where, hook, with_worker in calls:
        worker.log.info("safeworkers %s: calling the after-patch hook (%s)", name, where)
        try:
            hook(worker) if with_worker else hook()
        except Exception as exc:
            worker.log.debug("safeworkers: the after-patch hook failed:", exc_info=True)
            boot_failure(
                worker.log,
                f"after-patch hook ({where}) raised {type(exc).__name__}: {exc}; the worker stops "
                "rather than serve without what the hook sets up (--log-level debug shows the "
                "traceback)",
            )


class AfterPatchMixin:
    """Around the app's import in a green worker: the after-patch hook and the drivers' cures
    before it; the drivers' check and the hub's watch (``SAFEWORKERS_BLOCKING_WARN``) after."""

    #: Read by SafeWorkerMixin to tell the user when a worker will not call the hook.
    safeworkers_calls_after_patch: ClassVar[bool] = True

    #: The green library the worker patched with (set by each green worker).
    safeworkers_library: ClassVar[_greendrivers.Library] = "gevent"

    def load_wsgi(self) -> None:
        call(self)
        _greendrivers.before_load(self, self.safeworkers_library)
        super().load_wsgi()  # type: ignore[misc]
        _greendrivers.after_load(self, self.safeworkers_library)
        _blocking.start(self, self.safeworkers_library)
