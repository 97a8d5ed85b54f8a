"""The named refusals: why a worker cannot serve an app whose code patches or asks for a
green library, whatever the policy would choose instead.

Our workers refuse such an app at boot with these words (``SyncWorker`` and
``ThreadWorker`` on every boot where the app's code may show it), and
``safeworkers check`` gives them for the upstream workers too. Only the table
of workers is read here: a worker that refuses does not import the policy and
the facts it decides on.
"""

from __future__ import annotations

from safeworkers.decision import registry

#: The guarded worker of each green library.
GREEN = {w.patches: w for w in registry.WORKERS if w.ours and w.patches}


def refusal(worker: registry.Worker, patcher: str, evidence: str) -> str | None:
    """Why ``worker`` cannot serve an app that monkey-patches with ``patcher`` when imported.

    The named refusals of the workers at boot, for ``safeworkers check`` to
    give for the upstream workers too: threads would wait on the hub the app
    patches in after they started; the other green library would patch first.
    """
    if worker.threads:
        return (
            f"the app monkey-patches with {patcher} when imported ({evidence}), after the "
            f"worker started its threads, which then wait on {patcher}'s hub: requests hang. "
            f"Use -k {GREEN[patcher].name}"
        )
    if worker.patches and worker.patches != patcher:
        return (
            f"the app monkey-patches with {patcher} when imported ({evidence}), and this "
            f"worker patches with {worker.patches} first: two patchers in one process break "
            f"each other. Use -k {GREEN[patcher].name}"
        )
    return None


def asked_refusal(worker: registry.Worker, library: str, evidence: str) -> str | None:
    """Why ``worker`` cannot serve an app that asks for ``library`` itself (``async_mode``).

    Its WebSockets and long polls run on ``library``'s hub: a worker that does
    not run that hub (sync, threads, the other green library, an asyncio or
    Trio loop) answers plain requests and leaves those waiting for ever. The
    boot refusal of our workers, and ``safeworkers check``'s for the others.
    """
    if worker.patches == library or worker.name == registry.AUTO.name:
        return None
    if worker.patches:
        effect = (
            f"this worker patches with {worker.patches}: two green libraries in one process "
            "break each other, and its WebSockets and long polls would wait for ever"
        )
    else:
        effect = (
            f"this worker does not run {library}'s hub: its WebSockets and long polls would "
            "wait for ever (plain requests are answered)"
        )
    asked = f"the app asks for {library} itself ({evidence})"
    return f"{asked}, and {effect}. Use -k {GREEN[library].name}"
