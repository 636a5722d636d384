from common.settings import *  # noqa: F403  (shared settings, read from the environment)

SERVICE = "notification-service"
INSTALLED_APPS = [*INSTALLED_APPS, "notifications"]  # noqa: F405
ROOT_URLCONF = "notification_site.urls"
DATABASES = sqlite_database("notification")  # noqa: F405

# Mail goes through Django's e-mail framework. Unless EMAIL_URL names a server (django-environ's syntax, e.g.
# smtp+tls://user:password@mail.example:587), each mail is written to a file in the state folder's mail/.
EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = STATE_DIR / "mail"  # noqa: F405
if env("EMAIL_URL", default=None):  # noqa: F405
    vars().update(env.email_url("EMAIL_URL"))  # noqa: F405
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="orders@shop.example")  # noqa: F405
# The events carry only a customer id (in order_placed); a customer's address is made from it with this pattern.
NOTIFICATION_RECIPIENT = env("NOTIFICATION_RECIPIENT", default="{customer_id}@customers.example")  # noqa: F405
