"""Django settings of the servers the HTTP end-to-end tests start (daphne and uvicorn).

Sessions and users live in an SQLite file of the server's own (``HTTP_E2E_DB``,
a temporary path per server), migrated when the app is imported; the channel
layer is in memory. Passwords use a fast hasher: the tests log in often.
"""

import os

SECRET_KEY = "http-e2e-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "channels",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("HTTP_E2E_DB", "http-e2e.sqlite3"),
        "OPTIONS": {"timeout": 20},
    }
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
ROOT_URLCONF = "tests.http.server_app"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
