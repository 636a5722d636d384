from rest_framework import serializers

from common.api import MoneyField


class PaymentOut(serializers.Serializer):
    order_id = serializers.CharField(source="_id")
    payment_id = serializers.CharField()
    status = serializers.CharField(help_text="COMPLETED, DECLINED or REFUNDED")
    reason = serializers.CharField(allow_null=True)
    amount = MoneyField()
    currency = serializers.CharField()
    customer_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    refunded_at = serializers.DateTimeField(allow_null=True)
