"""The order site's REST shapes: the seed's request and response, with strict validation."""

from decimal import Decimal

from rest_framework import serializers

from common.api import MoneyField, Serializer, StrictSerializer
from common.events import OrderEnd
from orders.selectors import CancelOutcome
from orders.store import OrderStatus


class OrderItemIn(StrictSerializer):
    product_id = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=1000)
    price = MoneyField(min_value=Decimal("0.01"))


class OrderIn(StrictSerializer):
    customer_id = serializers.CharField(max_length=64)
    items = OrderItemIn(many=True, min_length=1, max_length=100)
    shipping_address = serializers.CharField(max_length=500)
    total_amount = MoneyField(min_value=Decimal("0.01"))
    currency = serializers.RegexField(r"^[A-Z]{3}$", default="USD", help_text="ISO 4217 code")

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if attrs["total_amount"] != sum(item["quantity"] * item["price"] for item in attrs["items"]):
            raise serializers.ValidationError({"total_amount": "must equal the sum of quantity × price of the items"})
        return attrs


class OrderItemOut(Serializer):
    product_id = serializers.CharField()
    quantity = serializers.IntegerField()
    price = MoneyField(source="unit_price")


class OrderFilter(Serializer):
    """The query of GET /orders besides the page (common.api.PageQuery): a filter, or the stuck ones."""
    status = serializers.ChoiceField([status.value for status in OrderStatus], required=False)
    # an exact id, as sent: trimmed, a control character alone would become a blank the schema allows
    customer_id = serializers.CharField(max_length=64, required=False, trim_whitespace=False)
    stuck = serializers.BooleanField(default=False, help_text="only the orders not final ORDER_STUCK_AFTER_SECONDS "
                                                              "after they were placed, oldest first")


class CancelIn(StrictSerializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True,
                                   help_text="the customer's words, kept on the order")


class FinalOrder(Serializer):
    detail = serializers.CharField()
    status = serializers.ChoiceField([end.value for end in OrderEnd])


class CancellationOut(Serializer):
    requested_at = serializers.CharField()
    requested_by = serializers.CharField()
    note = serializers.CharField(allow_null=True)
    outcome = serializers.ChoiceField([outcome.value for outcome in CancelOutcome],
                                      help_text="too late: the parcel had left before the cancel reached shipment")


class OrderOut(Serializer):
    order_id = serializers.CharField(source="_id")
    status = serializers.CharField()
    reason = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    customer_id = serializers.CharField()
    items = OrderItemOut(many=True)
    shipping_address = serializers.CharField()
    total_amount = MoneyField()
    currency = serializers.CharField()
    cancellation = CancellationOut(allow_null=True, help_text="the customer's cancel request, if any")
    waiting_for = serializers.CharField(allow_null=True, default=None,
                                        help_text="for a stuck order (?stuck=true): the step it waits on")
    last_event = serializers.CharField(allow_null=True, default=None,
                                       help_text="for a stuck order (?stuck=true): the last event it saw")


class TimelineEntry(Serializer):
    event_id = serializers.CharField(allow_null=True)
    event_type = serializers.CharField()
    status = serializers.CharField(allow_null=True, help_text="the status it moved the order to, if any")
    topic = serializers.CharField()
    partition = serializers.IntegerField(allow_null=True)
    offset = serializers.IntegerField(allow_null=True)
    occurred_at = serializers.CharField()
    applied_at = serializers.CharField(allow_null=True)
    note = serializers.CharField(default="", help_text="what the step meant for the order")
    trace_id = serializers.CharField(default=None, allow_null=True, help_text="on the placement: the order's trace "
                                     "(Zipkin: /zipkin/traces/<trace_id>), when it was traced")


def order_lines(items: list[dict]) -> list[dict]:
    """API items (`price`) as event lines (`unit_price`, in cents)."""
    return [{"product_id": i["product_id"], "quantity": i["quantity"], "unit_price": i["price"]} for i in items]
