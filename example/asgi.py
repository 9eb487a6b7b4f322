"""ASGI entry point of the example: HTTP goes to Django, `/graphql/` to GraphQL.

Serve it with `python3 run.py example` (daphne `example.asgi:application`).

- `/graphql/`: the GraphQL consumer, for WebSocket and HTTP alike (the same
  `as_asgi()` under both protocols), behind `AuthMiddlewareStack` (cookies,
  the Django session and `scope["user"]`, which the `login` mutation and
  `on_connect` use). Over HTTP it also serves the library's GraphiQL page to
  browsers (`graphiql = True`).
- Any other HTTP path: Django (the example's own GraphiQL page at `/`, the
  admin), wrapped in Django's `ASGIStaticFilesHandler` so that the bundles
  under `/static/` are served without `collectstatic` or a separate web
  server (development only).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
# Sets Django up (apps, settings) before anything importing models is imported.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import path, re_path  # noqa: E402

from example.consumer import GraphqlConsumer  # noqa: E402

graphql = GraphqlConsumer.as_asgi()

application = ProtocolTypeRouter(
    {
        "http": URLRouter(
            [
                path("graphql/", AuthMiddlewareStack(graphql)),
                re_path(r"", ASGIStaticFilesHandler(django_asgi_app)),
            ]
        ),
        "websocket": AuthMiddlewareStack(URLRouter([path("graphql/", graphql)])),
    }
)
