from django.contrib import admin

from common.admin_pages import MongoPage
from orders import services, store

admin.site.register_page(MongoPage(
    app_label="orders", name="Orders", collection=store.orders,
    columns=("status", "customer_id", "total_amount", "created_at", "reason"),
    search_fields=("_id", "customer_id"), filters={"status": tuple(store.STATUS_RANK)},
    history=lambda order: services.order_timeline(order)[1:],
))
