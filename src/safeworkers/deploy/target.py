"""What names an app or a function: gunicorn's ``MODULE[:APP]`` and ``module:function``.

One place for the rules, so that ``safeworkers recommend``/``check``, AutoWorker,
the app scan and the after-patch hook read a name the way gunicorn does
(``gunicorn.util.import_app``, which :func:`load_app` calls):

- an app target is ``pkg.app:app``, ``pkg.app:create_app()`` or
  ``pkg.app:create_app('x', debug=True)`` (literal arguments), or a bare
  ``pkg.app``, which means ``pkg.app:application``;
- a function reference (``SAFEWORKERS_AFTER_PATCH``) is
  ``module.path:function``, the function possibly dotted (``mod:Class.method``).

hypercorn's own syntax (``path/to/module.py:app``, ``asgi:``/``wsgi:``
prefixes) is read in :mod:`safeworkers.deploy.hypercorn`.

Errors are :class:`TargetError` with one line that names what was wrong; no
traceback from inside gunicorn or the app. Importing this module imports
nothing outside the standard library (the settings use it at start-up).
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable
from typing import Any

#: What gunicorn loads when the target has no ``:APP``.
DEFAULT_APP = "application"
#: A target that needs no quoting in a shell, a unit file or a Procfile:
#: ``module.path[:name[()]]`` (compiled when first used, by ``re``'s cache: every worker
#: imports this module and few ask).
_PLAIN = r"[A-Za-z_][\w.]*(:[A-Za-z_]\w*(\(\))?)?"


class TargetError(ValueError):
    """The target cannot be loaded; the message is one line, ready for the user."""


def module_of(target: str) -> str:
    """The module of a gunicorn target: ``pkg.app:create_app()`` and ``pkg.app`` -> ``pkg.app``."""
    return target.partition(":")[0].strip()


def module_name(target: str) -> str:
    """The module of ``target``, checked: :class:`TargetError` if it is not ``MODULE[:APP]``."""
    module = module_of(target)
    if not module or not all(part.isidentifier() for part in module.split(".")):
        raise TargetError(f"{target!r} is not MODULE:APP (e.g. myproject.wsgi:app)")
    return module


def is_plain(target: str) -> bool:
    """``module[:name]`` or ``module:factory()``: safe to write unquoted into a command line."""
    return re.fullmatch(_PLAIN, target) is not None


def load_app(target: str) -> object:
    """Import the app of ``target`` exactly as gunicorn does; :class:`TargetError` if it fails.

    The current directory is not added to ``sys.path`` here: the caller does
    that (gunicorn puts its ``--chdir`` first).
    """
    from gunicorn import util
    from gunicorn.errors import AppImportError

    module = module_name(target)
    try:
        return util.import_app(target)
    except AppImportError as exc:  # gunicorn's own one-line reasons
        raise TargetError(f"{target}: {exc}") from None
    except Exception as exc:  # the app's own error
        if module in sys.modules:  # imported: the factory (or the attribute lookup) raised
            raise TargetError(f"{target} raised {type(exc).__name__}: {exc}") from None
        raise TargetError(f"cannot import {module!r}: {type(exc).__name__}: {exc}") from None


def function_parts(reference: str) -> tuple[str, str] | None:
    """``(module, attribute)`` of ``module.path:function.path``, or ``None`` if not that shape."""
    module, sep, attribute = reference.strip().partition(":")
    dotted = (module, attribute)
    if not sep or not all(p and all(n.isidentifier() for n in p.split(".")) for p in dotted):
        return None
    return module, attribute


def load_function(reference: str) -> Callable[..., Any]:
    """Import the function ``module.path:function.path`` names; :class:`TargetError` if not."""
    parts = function_parts(reference)
    if parts is None:
        raise TargetError(f"{reference!r} is not module:function")
    module_name, attribute = parts
    try:
        value: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise TargetError(f"cannot import {module_name!r}: {type(exc).__name__}: {exc}") from None
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise TargetError(f"{module_name!r} has no {attribute!r}") from None
    if not callable(value):
        raise TargetError(f"{attribute!r} is not a function: it is {type(value).__name__}")
    function: Callable[..., Any] = value
    return function
