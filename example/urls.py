"""URLs of the example project: the GraphiQL page at `/` and the admin.

The GraphQL endpoint itself is a WebSocket route, see `example/asgi.py`; the
page's scripts and styles are static files built by `python3 run.py example`
(see `example/frontend/`) into `example/static_build/`.
"""

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.templatetags.static import static
from django.urls import path

PAGE_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>channels_graphql_ws example: GraphiQL</title>
<link rel="stylesheet" href="{css}">
</head>
<body>
<div id="graphiql">Loading GraphiQL&hellip;</div>
<script type="module" src="{js}"></script>
</body>
</html>
"""

NOT_BUILT_HTML = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>channels_graphql_ws example</title></head>
<body>
<h1>channels_graphql_ws example</h1>
<p>The GraphiQL page is not built yet: start the example with
<code>python3 run.py example</code>, which builds it.</p>
<p>The GraphQL WebSocket endpoint is at <code>/graphql/</code> meanwhile.</p>
</body>
</html>
"""


def graphiql(request: HttpRequest) -> HttpResponse:
    """The GraphiQL page, or a note on how to build it when its bundle is missing."""
    if not (settings.GRAPHIQL_BUILD_DIR / "main.js").exists():
        return HttpResponse(NOT_BUILT_HTML, status=503)
    return HttpResponse(
        PAGE_HTML.format(css=static("graphiql/main.css"), js=static("graphiql/main.js"))
    )


urlpatterns = [
    path("", graphiql, name="graphiql"),
    path("admin/", admin.site.urls),
]
