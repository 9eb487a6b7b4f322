"""Django settings for the example project: development only, never production."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "django-insecure-example-dev-only-do-not-use-in-production"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.auth",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "channels",
    "graphene_django",
    # The example itself: its migrations add the demo users alice and bob and
    # the table of chat messages.
    "example",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ASGI_APPLICATION = "example.asgi.application"

# In-process channel layer: enough for a single server process.
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "example" / "db.sqlite3",
        # Seconds to wait for another process's write (e.g. a second example
        # server started by a test run) instead of failing with "database is locked".
        "OPTIONS": {"timeout": 20},
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# `python3 run.py example` builds the GraphiQL page into this ignored folder
# (see example/frontend/build.mjs); `ASGIStaticFilesHandler` in asgi.py serves it.
STATIC_BUILD_DIR = BASE_DIR / "example" / "static_build"
GRAPHIQL_BUILD_DIR = STATIC_BUILD_DIR / "graphiql"
STATICFILES_DIRS = [STATIC_BUILD_DIR] if STATIC_BUILD_DIR.is_dir() else []

# Let through what the example's GraphQL middleware logs (example.consumer);
# daphne's own log handler prints it with the server's other lines.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"example": {"level": "INFO"}},
}
