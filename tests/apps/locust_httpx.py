"""A locustfile whose users call out with an httpx client built at import time.

``import locust`` runs gevent's ``patch_all()``; on macOS/BSD the httpx import
after it dies without the guard. Each call is reported to locust's statistics.
"""

from __future__ import annotations

import time

import httpx
from locust import User, constant, task

client = httpx.Client(timeout=5)


class Caller(User):
    wait_time = constant(0.05)

    @task
    def call(self) -> None:
        started = time.perf_counter()
        response = client.get(f"{self.host}/from-locust")
        self.environment.events.request.fire(
            request_type="GET",
            name="/from-locust",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=len(response.content),
            exception=None if response.status_code == 200 else RuntimeError(response.status_code),
            context={},
        )
