from django.contrib import admin

from common.admin_pages import MongoPage
from payments import store

admin.site.register_page(MongoPage(
    app_label="payments", name="Payments", collection=store.payments,
    columns=("status", "amount", "currency", "customer_id", "created_at", "reason"),
    id_fields=("_id", "payment_id"), search_fields=("customer_id",),
    filters={"status": tuple(store.PaymentStatus)},
))
