from rest_framework import serializers

from common.api import MoneyField, Serializer
from payments.store import PaymentStatus

STATUSES = [status.value for status in PaymentStatus]


class PaymentFilter(Serializer):
    status = serializers.ChoiceField(STATUSES, required=False)


class PaymentOut(Serializer):
    order_id = serializers.CharField(source="_id")
    payment_id = serializers.CharField()
    status = serializers.ChoiceField(STATUSES, help_text="CANCELLED: the order was cancelled before its payment")
    reason = serializers.CharField(allow_null=True)
    amount = MoneyField()
    currency = serializers.CharField(allow_null=True)
    customer_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    refunded_at = serializers.DateTimeField(allow_null=True)
