"""The ASGI application of the SSE fan-out benchmark: ``benchmarks.app`` plus HTTP on ``/ours/``.

The library's consumer (``OursConsumer``, ``confirm_subscriptions`` on)
serves ``/ours/`` over WebSocket and over HTTP alike, so SSE subscribers and
WebSocket subscribers reach the same class; ``/bench/stats`` is as in
``benchmarks.app``.
"""

from __future__ import annotations

from channels.routing import ProtocolTypeRouter, URLRouter
from django.urls import path, re_path

from .app import application as websocket_application
from .app import http_app
from .schema import OursConsumer

application = ProtocolTypeRouter(
    {
        "http": URLRouter([path("ours/", OursConsumer.as_asgi()), re_path(r"", http_app)]),
        "websocket": websocket_application.application_mapping["websocket"],
    }
)
