"""The field failure: a Flask app that builds an httpx.Client at import time.

`httpx` imports httpcore, which imports trio when it is installed. Under a
patched worker that import is what used to kill the worker. /proxy calls the
upstream server named by UPSTREAM_URL through the module-level client.
"""

from __future__ import annotations

import os

import httpx
from flask import Flask

client = httpx.Client(timeout=5)
app = Flask(__name__)


@app.route("/")
def index() -> str:
    return "flask ok"


@app.route("/__ready__")
def ready() -> str:
    return "ready"


@app.route("/proxy")
def proxy() -> str:
    upstream = client.get(os.environ["UPSTREAM_URL"] + "/upstream")
    return f"proxied: {upstream.status_code} {upstream.text}"
