from django.contrib import admin

from common.admin_pages import MongoPage
from common.events import ORDER_END_TOPICS
from notifications import store

admin.site.register_page(MongoPage(
    app_label="notifications", name="Notifications", collection=store.notifications,
    columns=("order_id", "event_type", "subject", "recipient", "sent_at"),
    search_fields=("_id", "order_id", "recipient"), filters={"event_type": ORDER_END_TOPICS},
))
admin.site.register_page(MongoPage(
    app_label="notifications", name="Recipients", collection=store.recipients,
    columns=("customer_id", "email", "waiting"), search_fields=("_id", "customer_id", "email"),
))
