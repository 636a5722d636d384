"""URLs every site serves besides its own API: health, readiness, metrics, OpenAPI, admin."""

from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from common import api

urlpatterns = [
    path("health", api.health, name="health"),
    path("ready", api.ready, name="ready"),
    path("metrics", api.metrics, name="metrics"),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("admin/", admin.site.urls),
]
