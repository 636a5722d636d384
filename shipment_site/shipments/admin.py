from django.contrib import admin

from common.admin_pages import MongoPage
from common.events import ShipmentProcessedStatus
from shipments import store

admin.site.register_page(MongoPage(
    app_label="shipments", name="Shipments", collection=store.shipments,
    columns=("status", "carrier", "tracking_number", "reason", "created_at"),
    filters={"status": tuple(ShipmentProcessedStatus)}, id_fields=("_id", "tracking_number"),
))
