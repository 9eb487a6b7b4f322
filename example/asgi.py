"""ASGI entry point of the example: HTTP goes to Django, `/graphql/` to GraphQL.

Serve it with `python3 run.py example` (daphne `example.asgi:application`).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
# Sets Django up (apps, settings) before anything importing models is imported.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from example.consumer import GraphqlConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([path("graphql/", GraphqlConsumer.as_asgi())]),
    }
)
