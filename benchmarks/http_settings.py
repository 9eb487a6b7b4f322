"""Django settings of the HTTP benchmark's servers: the benchmark's own, plus a URLconf.

graphene-django's ``GraphQLView`` is a Django view, so it is routed by
Django's URL resolver (``benchmarks.http_app.urlpatterns``); no Django
middleware runs, as for the consumers.
"""

from .settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.http_app"
INSTALLED_APPS = [*INSTALLED_APPS, "graphene_django"]  # noqa: F405
MIDDLEWARE: list[str] = []
