"""A Flask-SocketIO chat app that asks for gevent itself, as the Flask-SocketIO docs show.

``SocketIO(app, async_mode="gevent")``: its WebSockets and long polls need
gevent's hub; under a sync worker every WebSocket connection times out.
"""

from __future__ import annotations

from flask import Flask
from flask_socketio import SocketIO, emit

app = Flask(__name__)
socketio = SocketIO(app, async_mode="gevent")


@app.get("/")
def index() -> str:
    return f"socketio async_mode={socketio.async_mode}"


@socketio.on("chat")
def chat(message: str) -> None:
    emit("chat", f"echo: {message}")
