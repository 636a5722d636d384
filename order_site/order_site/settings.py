from common.settings import *  # noqa: F403  (shared settings, read from the environment)

SERVICE = "order-service"
INSTALLED_APPS = [*INSTALLED_APPS, "orders"]  # noqa: F405
ROOT_URLCONF = "order_site.urls"
DATABASES = sqlite_database("order")  # noqa: F405
