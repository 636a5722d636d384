from common.settings import *  # noqa: F403  (shared settings, read from the environment)

SERVICE = "order-service"
INSTALLED_APPS = [*INSTALLED_APPS, "orders"]  # noqa: F405
ROOT_URLCONF = "order_site.urls"
DATABASES = sqlite_database("order")  # noqa: F405
# An order not final this long after it was placed is reported stuck (GET /orders?stuck=true, the admin,
# the orderpipe_orders_stuck metric).
ORDER_STUCK_AFTER_SECONDS = env.float("ORDER_STUCK_AFTER_SECONDS", default=60.0)  # noqa: F405
