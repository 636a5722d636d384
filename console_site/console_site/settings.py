"""The read-only Kafka console: the shared settings, without the admin, users, sessions or a database.

It only reads the broker (no consumer group, no commits), so it needs neither MongoDB nor SQLite.
"""

from common.settings import *  # noqa: F403  (shared settings, read from the environment)

SERVICE = "kafka-console"  # its Kafka client id
INSTALLED_APPS = ["django.contrib.staticfiles", "console"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    },
]
ROOT_URLCONF = "console.urls"
DATABASES = {}
# How many records a page reads at most per partition: the newest ones (the page says so).
CONSOLE_WINDOW = env.int("CONSOLE_WINDOW", default=2000)  # noqa: F405
# Pages reload themselves this often (seconds).
CONSOLE_REFRESH_SECONDS = env.int("CONSOLE_REFRESH_SECONDS", default=3)  # noqa: F405
