"""The worker classes gunicorn runs, one module or package per family.

Each is ``class X(SafeWorkerMixin, <gunicorn's worker>)`` (``_base``): the
settings are validated at boot, a start line is logged, connections are tuned
for their transport, and what a worker cannot serve is refused at boot. The
green ones call the after-patch hook (``_afterpatch``). ``auto`` decides and
becomes one of the others.

Users name them ``safeworkers.<Name>``; the names, and what each serves and
needs, are rows of :mod:`safeworkers.decision.registry`. A new worker is a
module (or package) here and a row there.
"""
