"""Facts: what is true of this process, this environment and the app, read without acting.

Nothing here patches, installs, listens or decides; nothing imports gevent,
eventlet, trio or hypercorn. Every fact is immutable, so it can be cached,
logged, compared and handed to the decision (:mod:`safeworkers.decision`).

- :mod:`~safeworkers.facts.process`: the running process, as one
  :class:`~safeworkers.facts.process.Environment` snapshot (platform,
  installed versions, patch state, whether Trio can run, findings);
- :mod:`~safeworkers.facts.patches`: who patched the process, and whether
  Trio can run in it (the patcher set is computed there only);
- :mod:`~safeworkers.facts.app`: the loaded app (WSGI or ASGI, runs Trio code);
- :mod:`~safeworkers.facts.appscan`: the app's code, read statically
  (:mod:`~safeworkers.facts._source` reads one file);
- :mod:`~safeworkers.facts.distributions` and :mod:`~safeworkers.facts.versions`:
  the installed distributions, their versions, and which of them import trio;
- :mod:`~safeworkers.facts.findings`: known-bad combinations in those facts,
  each with its cure.

A new fact goes in the module of what it is about, as a pure function of what
can be read; a new known-bad combination is a rule in ``findings``.
"""
