from django.contrib import admin

from common import kafka
from common.admin_pages import Action, MongoPage, View
from orders import selectors, services, store


def redrive(request, order: dict) -> str:
    try:
        event = services.order_redrive(order["_id"])
    except services.OrderFinal as final:
        return f"Nothing sent: {final}."
    except services.EventGone as gone:
        return f"Nothing sent: {gone} is no longer on Kafka (past the topic's retention)."
    except kafka.TRANSIENT_ERRORS as error:
        return f"Nothing sent: the broker did not take it ({error}). Try again."
    return f"Sent {event.event_type} {event.event_id} again: the next site takes the order from there."


def cancel(request, order: dict) -> str:
    try:
        services.order_cancel(order_id=order["_id"], requested_by="staff", note=f"by {request.user.get_username()}")
    except services.OrderFinal as final:
        return f"Not cancelled: {final}."
    return "Cancel requested: the order ends CANCELLED and compensated, unless its parcel left first."


admin.site.register_page(MongoPage(
    app_label="orders", name="Orders", collection=store.orders,
    columns=("status", "customer_id", "total_amount", "created_at", "reason"),
    search_fields=("customer_id",), filters={"status": tuple(store.OrderStatus)},
    views={"stuck": View(selectors.orders_stuck, columns=("last_event", "waiting_for"))},
    actions=(Action("Re-drive (send its last event again)", redrive),
             Action("Cancel with compensation", cancel)),
    history=lambda order: selectors.order_timeline(order)[1:],
))
