from django.urls import path

from common.urls import urlpatterns as common_urlpatterns
from shipments import views

urlpatterns = [
    path("shipments", views.ShipmentList.as_view(), name="shipments"),
    path("shipments/<str:order_id>", views.ShipmentDetail.as_view(), name="shipment"),
    *common_urlpatterns,
]
