"""A Flask app whose view waits in PostgreSQL through psycopg2, as users' apps do.

``GET /sleep?s=0.5`` runs ``pg_sleep`` on a new connection (``SWTEST_PG_DSN``)
and answers with the server's clock before and after, so a test can see
whether requests were inside PostgreSQL at the same time.
"""

from __future__ import annotations

import os

import psycopg2
from flask import Flask, jsonify, request

app = Flask(__name__)

QUERY = (
    "SELECT extract(epoch FROM clock_timestamp())::float8, pg_sleep(%s), "
    "extract(epoch FROM clock_timestamp())::float8"
)


@app.get("/sleep")
def sleep() -> object:
    seconds = float(request.args.get("s", "0.5"))
    with psycopg2.connect(os.environ["SWTEST_PG_DSN"]) as conn, conn.cursor() as cursor:
        cursor.execute(QUERY, (seconds,))
        started, _, ended = cursor.fetchone()
    conn.close()
    return jsonify(started=started, ended=ended)
