from django.urls import path

from common.urls import urlpatterns as common_urlpatterns
from payments import views

urlpatterns = [
    path("payments", views.PaymentList.as_view(), name="payments"),
    path("payments/<str:order_id>", views.PaymentDetail.as_view(), name="payment"),
    *common_urlpatterns,
]
