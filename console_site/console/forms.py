"""The console's URL parameters, checked: anything else is a 400 page naming the field, never a 500."""

from django import forms
from django.core.validators import RegexValidator

# An order id as it travels as a Kafka key (the order site makes uuid4s; events allow up to 64 characters).
order_id_field = forms.CharField(
    max_length=64, required=False, strip=True,
    validators=[RegexValidator(r"^[A-Za-z0-9._:-]+$", "letters, digits and . _ : - only")],
)

MAX_OFFSET = 2**63 - 1  # Kafka offsets are 64-bit


class MessagesQuery(forms.Form):
    """Newest `limit` records, or `limit` records of one partition from an offset; optionally one order's."""

    limit = forms.IntegerField(min_value=1, max_value=500, required=False)
    offset = forms.IntegerField(min_value=0, max_value=MAX_OFFSET, required=False)
    order_id = order_id_field

    def __init__(self, data, *, partitions: int):
        super().__init__(data)
        self.fields["partition"] = forms.IntegerField(min_value=0, max_value=partitions - 1, required=False)

    def clean(self):
        cleaned = super().clean()
        if (cleaned.get("partition") is None) != (cleaned.get("offset") is None) and not self.errors:
            raise forms.ValidationError("give both a partition and an offset, or neither")
        cleaned["limit"] = cleaned.get("limit") or 20
        cleaned["order_id"] = cleaned.get("order_id") or None
        return cleaned


class OrderQuery(forms.Form):
    order_id = order_id_field
