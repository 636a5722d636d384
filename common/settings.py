"""Settings every site shares, read from the environment (12-factor).

A site's own settings module star-imports this and sets only what differs: its app, its URLs,
its service name (the Kafka consumer group and the `producer` of its events) and its SQLite file.
"""

import sys
from pathlib import Path

import environ

env = environ.Env()

REPO_ROOT = Path(__file__).resolve().parent.parent
# Run-time state (Django's SQLite files live here); manage_all.sh points it at .state/ or .state/test/.
STATE_DIR = Path(env("ORDERPIPE_STATE", default=str(REPO_ROOT / ".state")))

SECRET_KEY = env("DJANGO_SECRET_KEY")  # no default on purpose: a key in the repo is a key for everyone
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

KAFKA_BOOTSTRAP_SERVERS = env("KAFKA_BOOTSTRAP_SERVERS", default="127.0.0.1:9092")
KAFKA_TOPIC_PARTITIONS = env.int("KAFKA_TOPIC_PARTITIONS", default=6)
KAFKA_REPLICATION_FACTOR = env.int("KAFKA_REPLICATION_FACTOR", default=1)
MONGODB_URI = env("MONGODB_URI", default="mongodb://127.0.0.1:27017/")
# test stacks only: lets tests/faults/test_zombie.py freeze a consumer at a write (common.mongo.wait_while_held)
MONGODB_WRITE_HOLDS = env.bool("ORDERPIPE_WRITE_HOLDS", default=False)
# Where a person opens a trace (the console links each order to its own); the spans go to
# OTEL_EXPORTER_ZIPKIN_ENDPOINT (common/tracing.py).
ZIPKIN_UI_URL = env("ZIPKIN_UI_URL", default="http://127.0.0.1:9411/zipkin/")
# An outbox entry older than this is re-sent by the relay (the normal path sends at once).
OUTBOX_RELAY_AFTER_SECONDS = env.float("OUTBOX_RELAY_AFTER_SECONDS", default=2.0)

INSTALLED_APPS = [
    "common.apps.PipelineAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "common",
]

MIDDLEWARE = [
    "common.logging.RequestLogMiddleware",  # first, so the time it logs covers every other middleware
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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


def sqlite_database(site: str) -> dict:
    """Django's own tables (users, sessions, admin log) for one site; the orders live in MongoDB."""
    return {"default": env.db("DATABASE_URL", default=f"sqlite:///{STATE_DIR / f'{site}.sqlite3'}")}


# The seed's paths have no trailing slash; a redirect would drop a POST body.
APPEND_SLASH = False
# A body larger than this is refused with a 400 before any parsing (an order of 100 lines is ~10 KB).
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

STATIC_URL = "static/"
STATIC_ROOT = STATE_DIR / "static"
WHITENOISE_USE_FINDERS = True  # serve admin and Swagger UI assets without a collectstatic step
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    "COERCE_DECIMAL_TO_STRING": False,  # the seed's API answers money as JSON numbers
    # JSON only: an order's nested items have no form encoding, so the schema must not offer one
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",  # for curl; staff-only endpoints
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Order pipeline",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",  # served from this site, no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# One JSON object per line where the output is a file (manage_all.sh sends each component's to one, and
# `logs --order` reads them back), plain text on a terminal; LOG_FORMAT=json|plain chooses. orjson encodes them:
# a consumer writes one per event it handles, and the standard library's encoder took twice as long
# (common.logging.JsonFormatter, which falls back to it for what orjson refuses).
LOG_FORMAT = env("LOG_FORMAT", default="plain" if sys.stderr.isatty() else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "common.logging.JsonFormatter", "fmt": "%(levelname)s %(name)s %(message)s",
                 "rename_fields": {"levelname": "level", "name": "logger"}, "timestamp": True},
    },
    "filters": {"trace_ids": {"()": "common.logging.TraceIds"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["trace_ids"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # the span processor warns once per span it drops: orderpipe_spans_dropped_total counts them instead
    "loggers": {"kafka": {"level": "WARNING"}, "pymongo": {"level": "WARNING"},
                "opentelemetry.sdk._shared_internal": {"level": "ERROR"}},
}
