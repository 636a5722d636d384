from django.contrib import admin

from common.admin_pages import MongoPage
from common.events import ORDER_END_TOPICS
from notifications import store

admin.site.register_page(MongoPage(
    app_label="notifications", name="Notifications", collection=store.notifications,
    columns=("order_id", "event_type", "subject", "recipient", "sent_at"),
    search_fields=("order_id",), filters={"event_type": ORDER_END_TOPICS},
))
admin.site.register_page(MongoPage(
    app_label="notifications", name="Recipients", collection=store.recipients,
    columns=("customer_id", "email", "waiting", "created_at"), search_fields=("customer_id", "email"),
))
