from django.urls import path

from console import views

urlpatterns = [
    path("", views.overview, name="overview"),
    path("topics", views.topic_list, name="topics"),
    path("topics/<str:topic>", views.topic_messages, name="topic"),
    path("groups", views.group_list, name="groups"),
    path("orders", views.order_follow, name="order"),
    path("ready", views.ready, name="ready"),
]
