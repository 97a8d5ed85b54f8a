"""The import guard installed at interpreter start-up, for processes we do not start.

Celery's green pools, locust and scripts that call ``patch_all()`` patch the
process before any code of ours could run in it; there is no worker class to
swap. So the guard has to be there before the command's own code runs. The
package installs ``safeworkers_guard.pth`` next to itself in site-packages;
Python's ``site`` module runs its one ``import`` line at every interpreter
start-up. The line only looks the variable up in ``os.environ`` (already
imported by ``site``), so with ``SAFEWORKERS_GUARD_PROCESS`` unset it costs
nothing measurable; with it set, it calls :func:`install`.

The variable is inherited by child processes, so every Python process a
command starts is guarded too. ``safeworkers run -- COMMAND`` sets it.
"""

from __future__ import annotations

import os
import site
import sys

from safeworkers import settings

#: The environment variable the hook looks for.
VARIABLE = "SAFEWORKERS_GUARD_PROCESS"
#: The hook's file name in site-packages (sorted after an editable install's
#: ``_editable_impl_*.pth``/``_safeworkers.pth``, which put ``src`` on the path).
HOOK_FILE = "safeworkers_guard.pth"


def install() -> bool:
    """Install the guard if ``SAFEWORKERS_GUARD_PROCESS`` says so; called by the hook.

    Honours ``SAFEWORKERS_GUARD`` (``off`` installs nothing, ``preimport``
    imports the guarded modules now, while nothing is patched) and
    ``SAFEWORKERS_GUARD_MODULES``. The hook calls it only when the variable
    is set to something other than a false value (0/false/no/off/empty), so
    processes where it is switched off check and import nothing. A bad
    ``SAFEWORKERS_*`` value stops the process with one line and exit status
    2: raising here would abort the interpreter with "Fatal Python error"
    and a traceback of ``site``.
    """
    try:
        current = settings.load()
    except settings.SettingsError as exc:
        sys.stderr.write(
            f"safeworkers: {exc} (checked at start-up because {VARIABLE} is set: fix the "
            f"value, or unset {VARIABLE})\n"
        )
        sys.stderr.flush()
        os._exit(2)
    if not current.guard_process:
        return False
    from safeworkers import guard

    return guard.install(current.guard_modules, mode=current.guard)


def site_directories() -> list[str]:
    """The directories whose ``.pth`` files this interpreter reads at start-up."""
    directories = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    if site.ENABLE_USER_SITE:
        directories.append(site.getusersitepackages())
    return directories


def hook_path() -> str | None:
    """Where this interpreter's start-up hook is, or ``None`` if it is not installed."""
    for directory in site_directories():
        candidate = os.path.join(directory, HOOK_FILE)
        if os.path.isfile(candidate):
            return candidate
    return None
