"""What a deployment hands the servers, read the way the servers read it.

- :mod:`~safeworkers.deploy.target`: ``MODULE:APP`` (gunicorn's app
  argument) and ``module:function`` (a hook), read and loaded as gunicorn
  does;
- :mod:`~safeworkers.deploy.environ`: the platform's variables (``BIND``,
  ``PORT``, ``WEB_CONCURRENCY``) for the config modules, and the MPTCP
  listeners they hand over as ``fd://N``;
- :mod:`~safeworkers.deploy.hypercorn`: hypercorn's command line, and the fix
  its Trio worker needs for apps that return on the lifespan scope.

The config modules (:mod:`safeworkers.gunicorn_config`,
:mod:`safeworkers.hypercorn_config`), the commands and the workers share
them.
"""
