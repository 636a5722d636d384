from django.contrib import admin
from pymongo import ASCENDING

from common.admin_pages import Action, MongoPage
from inventory import services, store


def restock(request, product: dict) -> str:
    quantity = request.POST.get("quantity", "")
    if not quantity.isdigit() or not 1 <= int(quantity) <= 1_000_000:
        return "Nothing changed: the quantity must be a whole number from 1 to 1,000,000."
    quantity = int(quantity)
    services.product_restock(product_id=product["_id"], quantity=quantity)
    return f"Added {quantity} units to {product['_id']}."


admin.site.register_page(MongoPage(
    app_label="inventory", name="Products", collection=store.products,
    columns=("name", "price", "available", "reserved", "shipped", "received"), hidden_fields=("holds", "moving"),
    sort=("_id", ASCENDING),  # a catalogue, in the order of its product ids
    actions=(Action("Restock", restock, number_input="quantity"),),
))
admin.site.register_page(MongoPage(
    app_label="inventory", name="Reservations", collection=store.reservations,
    columns=("status", "reason", "lines", "created_at"),
    filters={"status": tuple(store.ReservationStatus)},
))
