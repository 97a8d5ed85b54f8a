"""A Flask app that monkey-patches with gevent at the top of its module (a common pattern).

It builds module-level clients from httpx and httpx2 (what openai 3.x and
anthropic 2.x use), both of which import trio: without the import guard
installed first, that import kills the worker on macOS. ``/barrier`` (see
barrier.py) shows whether requests are served concurrently; ``/proxy`` calls
UPSTREAM_URL through both clients.
"""

from gevent import monkey

monkey.patch_all()

import os  # noqa: E402

import httpx  # noqa: E402
from barrier import wait_for  # noqa: E402
from flask import Flask, request  # noqa: E402

try:
    import httpx2  # Python >= 3.11
except ImportError:
    httpx2 = None

client = httpx.Client(timeout=5)
client2 = httpx2.Client(timeout=5) if httpx2 is not None else None
app = Flask(__name__)


@app.route("/__ready__")
def ready() -> str:
    return "ready"


@app.route("/barrier")
def barrier() -> str:
    return wait_for(int(request.args.get("n", "2")))


@app.route("/proxy")
def proxy() -> str:
    url = os.environ["UPSTREAM_URL"] + "/upstream"
    answers = [client.get(url).status_code]
    if client2 is not None:
        answers.append(client2.get(url).status_code)
    return f"proxied: {answers}"
