"""What the hypercorn config module needs from hypercorn itself.

- :func:`command_line`: the application and ``-k`` hypercorn was started
  with (the config is read inside ``hypercorn``'s ``main()``, before it
  applies them);
- :func:`application_source`: where hypercorn will import that application
  from, without importing it (mirrors ``hypercorn.utils.load_application``);
- :func:`fix_trio_lifespan` and :data:`TRIO_WORKER_SETUP`: hypercorn's Trio
  worker crashes on an app that *returns* on the lifespan scope (the ASGI
  spec allows it: "lifespan not supported"); the worker then dies with
  ``trio.ClosedResourceError`` and hypercorn exits 0 without serving.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Literal

#: hypercorn's options that take no value (argparse ``store_true``); all others take one.
_NO_VALUE = ("-D", "--daemon", "--debug", "--reload", "-h", "--help")


@dataclass(frozen=True)
class CommandLine:
    application: str | None
    worker_class: str | None


def _from_main_frame() -> CommandLine | None:
    """What hypercorn's ``main()`` parsed, when the config is read from inside it."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        args = frame.f_locals.get("args") if frame.f_code.co_name == "main" else None
        if args is not None and isinstance(getattr(args, "application", None), str):
            worker = getattr(args, "worker_class", None)
            return CommandLine(args.application, worker if isinstance(worker, str) else None)
        frame = frame.f_back
    return None


def parse_arguments(argv: Sequence[str]) -> CommandLine:
    """The application (hypercorn's one positional argument) and ``-k`` in ``argv``."""
    positional: list[str] = []
    worker: str | None = None
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            positional.extend(argv[index + 1 :])
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            index += 1
            continue
        name, has_value, value = arg.partition("=")
        if arg.startswith("--") and not has_value:
            long_flags = [f for f in _NO_VALUE if f.startswith("--")]
            if any(flag.startswith(arg) for flag in long_flags):  # argparse takes prefixes
                index += 1
                continue
        elif not arg.startswith("--") and arg not in _NO_VALUE and len(arg) > 2:
            name, has_value, value = arg[:2], "=", arg[2:]  # -kuvloop
        if name in _NO_VALUE:
            index += 1
            continue
        if not has_value:
            value = argv[index + 1] if index + 1 < len(argv) else ""
            index += 1
        if name in ("-k", "--worker-class") or (
            name.startswith("--w") and "--worker-class".startswith(name) and len(name) > 3
        ):
            worker = value
        index += 1
    return CommandLine(positional[0] if positional else None, worker)


def command_line(argv: Sequence[str] | None = None) -> CommandLine:
    """hypercorn's application and ``-k``: from its ``main()`` if found, else from ``argv``."""
    if argv is None:
        found = _from_main_frame()
        if found is not None:
            return found
        argv = sys.argv[1:]
    return parse_arguments(argv)


AppMode = Literal["asgi", "wsgi"]


def application_source(application: str) -> tuple[str, str, AppMode | None]:
    """``(module, directory, mode)`` for hypercorn's APPLICATION argument.

    hypercorn accepts ``module:app``, ``path/to/module.py:app``,
    ``path/to/package``, and a ``asgi:``/``wsgi:`` mode prefix; it puts the
    module's directory first on ``sys.path`` and imports the module by name.
    """
    mode: AppMode | None = None
    if application.count(":") == 2:
        prefix, module_name, _ = application.split(":", 2)
        mode = "asgi" if prefix == "asgi" else "wsgi" if prefix == "wsgi" else None
    else:
        module_name = application.partition(":")[0]
    module_path = Path(module_name).resolve()
    name = module_path.with_suffix("").name if module_path.is_file() else module_path.name
    return name, str(module_path.parent), mode


def fix_trio_lifespan() -> None:
    """Make hypercorn's Trio worker treat an app that returns on lifespan as "not supported".

    hypercorn's asyncio worker already does. The app returns before hypercorn
    sends ``lifespan.startup``, hypercorn closes the channel it would send on,
    and the send raises. A subclass that delegates to hypercorn's own
    ``Lifespan`` and answers that case is put where hypercorn's Trio
    ``worker_serve`` looks it up. Idempotent.
    """
    import trio
    from hypercorn.trio import run as trio_run
    from hypercorn.trio.lifespan import Lifespan

    if getattr(trio_run.Lifespan, "safeworkers", False):  # type: ignore[attr-defined]
        return

    class ReturningAppLifespan(Lifespan):
        safeworkers = True

        async def wait_for_startup(self) -> None:
            try:
                await super().wait_for_startup()
            except trio.ClosedResourceError:
                if not self.startup.is_set():
                    raise
                self.supported = False  # the app returned: it does not speak lifespan

        async def wait_for_shutdown(self) -> None:
            try:
                await super().wait_for_shutdown()
            except trio.ClosedResourceError:
                if not self.shutdown.is_set():
                    raise

    trio_run.Lifespan = ReturningAppLifespan  # type: ignore[attr-defined]


class _TrioWorkerSetup:
    """Runs :func:`fix_trio_lifespan` in each hypercorn worker process.

    hypercorn starts its workers with multiprocessing's *spawn* and sends
    them the config, pickled; every attribute of a python: config module is
    part of it. Unpickling this object calls the fix in the new process,
    before the Trio worker starts.
    """

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return (fix_trio_lifespan, ())


TRIO_WORKER_SETUP = _TrioWorkerSetup()
