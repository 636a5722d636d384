"""What every site's REST API shares: strict input, error shape, pagination over MongoDB, health."""

import functools
import logging
from decimal import Decimal

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from rest_framework import serializers, status
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from common import kafka, mongo, tracing

log = logging.getLogger(__name__)


class Serializer(serializers.Serializer):
    """DRF's serializer with its fields built once per class. DRF deep-copies every declared field for each
    serializer it makes (the body's, each item's, the answer's: a fifth of a POST's CPU); validating and
    representing only read them, so all instances of a class share one set, made for the first. Not for a
    serializer whose fields depend on its instance or context (none here): a shared field sees neither, so a
    `context` or `partial` is refused rather than ignored."""

    def __init__(self, *args, **kwargs):
        if kwargs.get("context") or kwargs.get("partial"):
            raise TypeError(f"{type(self).__name__} shares its fields: it takes no context and no partial")
        super().__init__(*args, **kwargs)

    @property
    def fields(self):
        return _fields_of(type(self))


@functools.cache
def _fields_of(serializer_class: type[Serializer]):
    return serializers.Serializer.fields.func(serializer_class())  # DRF's own building, on an instance of the class


class StrictSerializer(Serializer):
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


class StrictSerializerSchema(OpenApiSerializerExtension):
    """The schema says what StrictSerializer does: a field it does not know is refused."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        for name, field in self.target.fields.items():
            if name in schema["properties"] and "$ref" not in schema["properties"][name]:
                schema["properties"][name].update(_limits_not_in_schema(field))
        return {**schema, "additionalProperties": False}


class CharFieldSchema(OpenApiSerializerFieldExtension):
    """The schema says that a text input may not hold a NUL character: DRF's CharField refuses one with a 400
    (its ProhibitNullCharactersValidator), which drf-spectacular leaves out of the schema."""

    target_class = serializers.CharField

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction == "request" and "pattern" not in schema:
            schema["pattern"] = "^[^\\x00]*$"
        return schema


def _limits_not_in_schema(field: serializers.Field) -> dict:
    """What the field refuses that drf-spectacular leaves out of the schema (so a fuzzer's valid input is valid)."""
    if isinstance(field, serializers.CharField) and not field.allow_blank and not field.min_length:
        return {"minLength": 1}
    if isinstance(field, serializers.ListSerializer):
        return {key: value for key, value in (("minItems", field.min_length), ("maxItems", field.max_length))
                if value is not None}
    if isinstance(field, serializers.DecimalField):
        return {"multipleOf": float(Decimal(1).scaleb(-field.decimal_places))}
    return {}


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


class Problem(Serializer):
    detail = serializers.CharField(help_text="what went wrong")


# The answers other than success that an operation documents in its schema, so that a client (and the fuzz
# tests in tests/fuzz) can rely on them: `responses={200: PaymentOut, **errors(404, 503)}`.
ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description='bad input: each field with what is wrong with it '
                         '({"quantity": ["…"]}), or {"detail": "…"} for a body that cannot be read'),
    403: OpenApiResponse(Problem, description="staff only: no or wrong credentials"),
    404: OpenApiResponse(Problem, description="nothing has this id"),
    503: OpenApiResponse(Problem, description="the store is unreachable: retry (after Retry-After seconds)"),
}


def errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in codes}


class PageQuery(Serializer):
    """The query parameters of a list: which page, and how long a page is. A view's schema names it in
    `parameters` and `Page` checks a request with it, so what is documented is what is accepted."""

    page = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)  # the store's skip is an int64
    page_size = serializers.IntegerField(min_value=1, max_value=100, default=20)


def page_of(serializer: type[serializers.Serializer]) -> serializers.Serializer:
    """The schema of a `Page.response` of these items."""
    return inline_serializer(f"{serializer.__name__.removesuffix('Out')}Page", {
        "next": serializers.URLField(allow_null=True, help_text="the next page; null on the last one"),
        "previous": serializers.URLField(allow_null=True),
        "results": serializer(many=True),
    })


class Page:
    """Page-number pagination over a MongoDB query: DRF's shape (next, previous, results) without the count,
    which would read every match (common.listing)."""

    def __init__(self, request):
        self.request = request
        # a dict, not the QueryDict: DRF would read a blank `?page=` as "not given", though no schema allows it
        query = PageQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        self.number, self.size = query.validated_data["page"], query.validated_data["page_size"]

    @property
    def skip(self) -> int:
        return (self.number - 1) * self.size

    def response(self, results: list, has_next: bool) -> Response:
        def link(number: int) -> str:
            return self.request.build_absolute_uri(f"?{self._query(number)}")

        return Response(
            {
                "next": link(self.number + 1) if has_next else None,
                "previous": link(self.number - 1) if self.number > 1 else None,
                "results": results,
            }
        )

    def _query(self, number: int) -> str:
        query = self.request.query_params.copy()
        query["page"] = number
        return query.urlencode()


# The probes read no credentials: a stray or stale Authorization header must not turn "alive" into a 403.
@extend_schema(responses=inline_serializer("Health", {"status": serializers.CharField()}))
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def health(request):
    """The process is alive (it does not look at the store or the broker: see /ready)."""
    return Response({"status": "ok"})


class ReadyOut(Serializer):
    status = serializers.ChoiceField(["ready", "not ready"])
    store = serializers.CharField(help_text='"ok", or why not')
    broker = serializers.CharField(help_text='"ok", or why not')


@extend_schema(responses={200: ReadyOut, 503: ReadyOut})
@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def ready(request):
    """The store and the broker answer: 200, or 503 naming what does not."""
    checks = {}
    try:
        with tracing.untraced_store():  # a probe's call, nobody's order: no trace of its own in Zipkin
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
