from django.urls import path

from common.urls import urlpatterns as common_urlpatterns
from notifications import views

urlpatterns = [
    path("notifications", views.NotificationList.as_view(), name="notifications"),
    path("notifications/<str:notification_id>", views.NotificationDetail.as_view(), name="notification"),
    *common_urlpatterns,
]
