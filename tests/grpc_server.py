"""A real gRPC server for the tests, in its own process: ``python -m tests.grpc_server``.

One method, ``/swtest.Clock/Wait``: the request is a number of seconds (bytes,
no protobuf); it waits that long and answers with its clock before and after
(JSON), so a test can see whether calls overlapped. It prints its port, then
serves until stdin closes.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent import futures

import grpc


def wait(request: bytes, context: object) -> bytes:
    started = time.time()
    time.sleep(float(request))
    return json.dumps({"started": started, "ended": time.time()}).encode()


def main() -> None:
    handler = grpc.method_handlers_generic_handler(
        "swtest.Clock", {"Wait": grpc.unary_unary_rpc_method_handler(wait)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), handlers=[handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    sys.stdin.read()  # until the test closes it
    server.stop(0)


if __name__ == "__main__":
    main()
