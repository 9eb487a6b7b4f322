"""Django settings of the daphne the client tests start (``tests.client.app``).

The minimum Channels needs: no HTTP apps, an in-memory channel layer (the
server is one process) and an in-memory SQLite database.
"""

SECRET_KEY = "client-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "channels",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
ROOT_URLCONF = "tests.client.app"
ASGI_APPLICATION = "tests.client.app.application"
USE_TZ = True
