from rest_framework import serializers

from common.api import MoneyField, Serializer, StrictSerializer


class ProductOut(Serializer):
    product_id = serializers.CharField(source="_id")
    name = serializers.CharField()
    price = MoneyField()
    available = serializers.IntegerField(help_text="units that can still be sold")
    reserved = serializers.IntegerField(help_text="units taken by orders that have not shipped yet")
    shipped = serializers.IntegerField(help_text="units that left in parcels")
    received = serializers.IntegerField(help_text="every unit ever stocked: available + reserved + shipped")


class RestockIn(StrictSerializer):
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)
