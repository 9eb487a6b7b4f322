"""ASGI entry point of the example: HTTP goes to Django, `/graphql/` to GraphQL.

Serve it with `python3 run.py example` (daphne `example.asgi:application`).

- HTTP: Django (the GraphiQL page at `/`, the admin), wrapped in Django's
  `ASGIStaticFilesHandler` so that the page's bundle under `/static/` is
  served without `collectstatic` or a separate web server (development only).
- WebSocket: `AuthMiddlewareStack` (cookies, the Django session and
  `scope["user"]`, which the `login` mutation and `on_connect` use) around
  the router with the GraphQL consumer at `/graphql/`.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
# Sets Django up (apps, settings) before anything importing models is imported.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import path  # noqa: E402

from example.consumer import GraphqlConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": AuthMiddlewareStack(URLRouter([path("graphql/", GraphqlConsumer.as_asgi())])),
    }
)
