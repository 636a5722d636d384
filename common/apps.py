from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CommonConfig(AppConfig):
    default = True
    """Kafka, event envelope, outbox, health and metrics: shared by every site (and the Kafka console)."""

    name = "common"


class PipelineAdminConfig(admin_apps.AdminConfig):
    """Django's admin, with pages over the site's MongoDB documents (see common.admin_pages)."""

    default = False  # named explicitly in INSTALLED_APPS, in place of django.contrib.admin
    default_site = "common.admin_pages.PipelineAdminSite"
