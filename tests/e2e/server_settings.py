"""Django settings of the servers the end-to-end tests start (daphne and uvicorn).

The minimum Channels needs: no HTTP apps, an in-memory channel layer and an
in-memory SQLite database, so a server leaves nothing behind on disk.
"""

SECRET_KEY = "e2e-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "channels",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
ROOT_URLCONF = "tests.e2e.server_app"
ASGI_APPLICATION = "tests.e2e.server_app.application"
USE_TZ = True
