"""What every site's REST API shares: strict input, error shape, pagination over MongoDB, health."""

import logging
from decimal import Decimal

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common import kafka, mongo

log = logging.getLogger(__name__)


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not know, so a typo ('quantitiy') is a 400, not a silently ignored field."""

    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, dict):
            unknown = {name: ["unknown field"] for name in data if name not in self.fields}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            raise serializers.ValidationError({**error.detail, **unknown}) from None
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class MoneyField(serializers.DecimalField):
    """A decimal amount in the API (29.99), integer minor units (2999) inside: no floats, no Decimal128."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> int:
        if isinstance(data, bool):  # JSON true is not an amount, though Python calls it 1
            self.fail("invalid")
        return int(super().to_internal_value(data) * 100)

    def to_representation(self, cents: int):
        return super().to_representation(Decimal(cents) / 100)


def exception_handler(error, context):
    """DRF's handler, plus: an oversized body is a 400 like any other bad input, and a store that cannot be
    reached is a 503 the client may retry (with the same Idempotency-Key), never a 500."""
    if isinstance(error, RequestDataTooBig):
        error = ParseError("request body is too large")
    if isinstance(error, mongo.TRANSIENT_ERRORS):
        log.warning("store unreachable during %s: %s", context["request"].path, error)
        return Response({"detail": "the store is unreachable; try again shortly"},
                        status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": "2"})
    return drf_exception_handler(error, context)


def found_or_404(document: dict | None, description: str) -> dict:
    """The document a path named, or a 404 (any id, malformed or not, that matches nothing)."""
    if document is None:
        raise NotFound(f"no {description}")
    return document


class Page:
    """Page-number pagination over a MongoDB query: the same shape as DRF's (count, next, previous, results)."""

    default_size = 20
    max_size = 100

    def __init__(self, request):
        self.request = request
        self.number = self._int("page", 1, minimum=1)
        self.size = self._int("page_size", self.default_size, minimum=1, maximum=self.max_size)

    def _int(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        raw = self.request.query_params.get(name, default)
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise serializers.ValidationError({name: "must be a whole number"}) from None
        if value < minimum or (maximum is not None and value > maximum):
            raise serializers.ValidationError({name: f"must be between {minimum} and {maximum or 'any'}"})
        return value

    @property
    def skip(self) -> int:
        return (self.number - 1) * self.size

    def response(self, results: list, count: int) -> Response:
        def link(number: int) -> str:
            return self.request.build_absolute_uri(f"?{self._query(number)}")

        has_next = self.skip + len(results) < count
        return Response(
            {
                "count": count,
                "next": link(self.number + 1) if has_next else None,
                "previous": link(self.number - 1) if self.number > 1 else None,
                "results": results,
            }
        )

    def _query(self, number: int) -> str:
        query = self.request.query_params.copy()
        query["page"] = number
        return query.urlencode()


@api_view(["GET"])
@permission_classes([AllowAny])
def health(request):
    """The process is alive (it does not look at the store or the broker: see /ready)."""
    return Response({"status": "ok"})


@api_view(["GET"])
@permission_classes([AllowAny])
def ready(request):
    """The store and the broker answer: 200, or 503 naming what does not."""
    checks = {}
    try:
        mongo.client().admin.command("ping")
        checks["store"] = "ok"
    except Exception as error:  # any failure means "not ready"
        checks["store"] = f"unreachable: {error}"
    try:
        kafka.producer().partitions_for("order_placed")
        checks["broker"] = "ok"
    except Exception as error:
        checks["broker"] = f"unreachable: {error}"
    ok = all(value == "ok" for value in checks.values())
    return Response({"status": "ready" if ok else "not ready", **checks},
                    status=status.HTTP_200_OK if ok else status.HTTP_503_SERVICE_UNAVAILABLE)


def metrics(request):
    """Prometheus text format, for a scraper."""
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
