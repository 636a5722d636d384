from django.urls import path

from common.urls import urlpatterns as common_urlpatterns
from inventory import views

urlpatterns = [
    path("inventory", views.ProductList.as_view(), name="products"),
    path("inventory/<str:product_id>", views.ProductDetail.as_view(), name="product"),
    path("inventory/<str:product_id>/restock", views.ProductRestock.as_view(), name="product-restock"),
    *common_urlpatterns,
]
