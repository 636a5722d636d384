from rest_framework import serializers

from common.api import Serializer
from common.events import ORDER_END_TOPICS


class NotificationFilter(Serializer):
    """The query of GET /notifications (besides page and page_size)."""

    # an exact id, as sent: trimmed, a control character alone would become a blank the schema allows
    order_id = serializers.CharField(max_length=64, required=False, trim_whitespace=False)
    event_type = serializers.ChoiceField(choices=ORDER_END_TOPICS, required=False)


class NotificationOut(Serializer):
    notification_id = serializers.CharField(source="_id")
    order_id = serializers.CharField()
    event_type = serializers.CharField()
    event_id = serializers.CharField()
    subject = serializers.CharField()
    body = serializers.CharField()
    recipient = serializers.CharField(allow_null=True, help_text="null until the mail is sent")
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True, help_text="null while it waits for its order_placed")
