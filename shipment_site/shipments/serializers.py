from rest_framework import serializers

from common.api import Serializer


class ShipmentLine(Serializer):
    product_id = serializers.CharField()
    quantity = serializers.IntegerField()


class ShipmentOut(Serializer):
    order_id = serializers.CharField(source="_id")
    shipment_id = serializers.CharField()
    status = serializers.CharField(help_text="SHIPPED, or CANCELLED: a cancellation came first, it never ships")
    reason = serializers.CharField(allow_null=True, default=None)
    carrier = serializers.CharField(allow_null=True)
    tracking_number = serializers.CharField(allow_null=True)
    shipping_address = serializers.CharField(allow_null=True)
    lines = ShipmentLine(many=True)
    created_at = serializers.DateTimeField()
