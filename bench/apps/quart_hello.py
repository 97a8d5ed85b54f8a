"""A quart-trio app with one route: a real Trio framework's smallest answer."""

from __future__ import annotations

from quart_trio import QuartTrio

app = QuartTrio(__name__)


@app.route("/")
async def hello() -> str:
    return "hello, world\n"
