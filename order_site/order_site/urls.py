from django.urls import path

from common.urls import urlpatterns as common_urlpatterns
from orders import views

urlpatterns = [
    path("orders", views.OrderList.as_view(), name="orders"),
    path("orders/<str:order_id>", views.OrderDetail.as_view(), name="order"),
    path("orders/<str:order_id>/timeline", views.OrderTimeline.as_view(), name="order-timeline"),
    path("orders/<str:order_id>/cancel", views.OrderCancel.as_view(), name="order-cancel"),
    *common_urlpatterns,
]
