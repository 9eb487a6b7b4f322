"""URLs of the example project: the admin and a page pointing at the endpoint.

The GraphQL endpoint itself is a WebSocket route, see `example/asgi.py`.
"""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import path

INDEX_HTML = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>channels_graphql_ws example</title></head>
<body>
<h1>channels_graphql_ws example</h1>
<p>The GraphQL WebSocket endpoint is at <code>/graphql/</code>
(for example <code>ws://{host}/graphql/</code>).</p>
<p>Supported WebSocket subprotocols: <code>graphql-transport-ws</code>.</p>
<p>Try <code>{{ hello }}</code>, <code>{{ counter }}</code> and
<code>mutation {{ increment(by: 1) {{ value }} }}</code>.</p>
</body>
</html>
"""


def index(request: HttpRequest) -> HttpResponse:
    """Say where the GraphQL endpoint is and which subprotocols it speaks."""
    return HttpResponse(INDEX_HTML.format(host=request.get_host()))


urlpatterns = [
    path("", index, name="index"),
    path("admin/", admin.site.urls),
]
