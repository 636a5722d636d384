from common.settings import *  # noqa: F403  (shared settings, read from the environment)

SERVICE = "inventory-service"
INSTALLED_APPS = [*INSTALLED_APPS, "inventory"]  # noqa: F405
ROOT_URLCONF = "inventory_site.urls"
DATABASES = sqlite_database("inventory")  # noqa: F405
