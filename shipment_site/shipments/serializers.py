from rest_framework import serializers


class ShipmentLine(serializers.Serializer):
    product_id = serializers.CharField()
    quantity = serializers.IntegerField()


class ShipmentOut(serializers.Serializer):
    order_id = serializers.CharField(source="_id")
    shipment_id = serializers.CharField()
    status = serializers.CharField()
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    shipping_address = serializers.CharField()
    lines = ShipmentLine(many=True)
    created_at = serializers.DateTimeField()
