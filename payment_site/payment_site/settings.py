from decimal import Decimal

from common.settings import *  # noqa: F403  (shared settings, read from the environment)

SERVICE = "payment-service"
INSTALLED_APPS = [*INSTALLED_APPS, "payments"]  # noqa: F405
ROOT_URLCONF = "payment_site.urls"
DATABASES = sqlite_database("payment")  # noqa: F405

# The demo's payment rule: an order above this amount is declined.
PAYMENT_APPROVAL_LIMIT = Decimal(env("PAYMENT_APPROVAL_LIMIT", default="1000.00"))  # noqa: F405
# Pretend a payment takes this long (0: instant). For watching the flow, not for the tests.
PAYMENT_PROCESSING_SECONDS = env.float("PAYMENT_PROCESSING_SECONDS", default=0)  # noqa: F405
