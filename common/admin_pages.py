"""Admin pages over MongoDB documents: the admin's login, look and navigation, without an ORM."""

from django.contrib.admin import AdminSite


class PipelineAdminSite(AdminSite):
    site_header = "Order pipeline admin"
