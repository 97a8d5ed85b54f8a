"""A Flask app holding a module-level gRPC channel, as gRPC clients are usually written.

``GET /call`` makes one unary call to ``SWTEST_GRPC_TARGET`` (tests/grpc_server.py),
which waits ``?s=`` seconds and answers with its clock before and after.
"""

from __future__ import annotations

import json
import os

import grpc
from flask import Flask, request

app = Flask(__name__)
channel = grpc.insecure_channel(os.environ["SWTEST_GRPC_TARGET"])
wait = channel.unary_unary("/swtest.Clock/Wait")


@app.get("/call")
def call() -> object:
    seconds = request.args.get("s", "0.5").encode()
    return json.loads(wait(seconds, timeout=20))
