"""The decision: which server and worker serve an app here, and why; or why none can.

- :mod:`~safeworkers.decision.policy`: :func:`~safeworkers.decision.policy.recommend`,
  a pure function of the facts (every row of it is a row of docs/choosing.md);
- :mod:`~safeworkers.decision.decide`: gathers the facts for one app (its
  code, the process, the loaded app when it is safe to load) and asks the
  policy: the one step AutoWorker, the hypercorn config, ``safeworkers
  recommend``, ``check`` and ``template`` share.

It reads facts (:mod:`safeworkers.facts`) and acts on nothing: no guard, no
sockets, no worker is started here.
"""
