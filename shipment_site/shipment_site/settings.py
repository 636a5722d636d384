from common.settings import *  # noqa: F403  (shared settings, read from the environment)

SERVICE = "shipment-service"
INSTALLED_APPS = [*INSTALLED_APPS, "shipments"]  # noqa: F405
ROOT_URLCONF = "shipment_site.urls"
DATABASES = sqlite_database("shipment")  # noqa: F405
