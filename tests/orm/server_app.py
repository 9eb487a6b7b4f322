"""The ASGI application of the ORM end-to-end tests: ``tests.orm.schema`` over WebSocket.

    CGWS_TEST_DB=sqlite CGWS_TEST_DB_NAME=/tmp/x.sqlite3 \
        DJANGO_SETTINGS_MODULE=tests.orm.server_settings \
        daphne -b 127.0.0.1 -p 8000 tests.orm.server_app:application

- ``/graphql/``: the consumer with its defaults (sync code in Django's sync
  thread) and ``confirm_subscriptions``;
- ``POST /posts/save/`` (``title``, ``author_id``, ``rollback``): a plain
  sync Django view that saves a post in a transaction, rolled back when
  ``rollback`` is ``1``; ``broadcast_model_changes`` tells the author's
  ``onPostChange`` subscribers when it commits.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.orm.server_settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.db import transaction  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402

import channels_graphql_ws  # noqa: E402
from tests.orm.models import Post  # noqa: E402
from tests.orm.schema import connect_model_changes, schema  # noqa: E402

connect_model_changes()


class _RolledBack(Exception):
    pass


@csrf_exempt
def save_post(request: HttpRequest) -> HttpResponse:
    """Save a post; with ``rollback=1`` the transaction is rolled back after the save."""
    try:
        with transaction.atomic():
            post = Post.objects.create(
                title=request.POST["title"], author_id=int(request.POST["author_id"])
            )
            if request.POST.get("rollback") == "1":
                raise _RolledBack
    except _RolledBack:
        return JsonResponse({"saved": False})
    return JsonResponse({"saved": True, "id": post.id})


class Consumer(channels_graphql_ws.GraphqlWsConsumer):
    schema = schema
    confirm_subscriptions = True


urlpatterns = [path("posts/save/", save_post)]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([path("graphql/", Consumer.as_asgi())]),
    }
)
