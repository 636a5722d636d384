"""Settings for the test process: every site's app at once, against the test stack's broker and store.

The sites themselves run as real processes (gunicorn and runconsumer) started by `./manage_all.sh test`;
this process only calls services and handlers directly and reads the stores and topics.
"""

from common.settings import *  # noqa: F403
from notification_site.settings import DEFAULT_FROM_EMAIL, NOTIFICATION_RECIPIENT  # noqa: F401
from order_site.settings import ORDER_STUCK_AFTER_SECONDS  # noqa: F401
from payment_site.settings import PAYMENT_APPROVAL_LIMIT, PAYMENT_PROCESSING_SECONDS  # noqa: F401

SERVICE = "tests"
INSTALLED_APPS = [*INSTALLED_APPS, "orders", "payments", "inventory", "shipments", "notifications"]  # noqa: F405
ROOT_URLCONF = "order_site.urls"
DATABASES = sqlite_database("tests")  # noqa: F405
