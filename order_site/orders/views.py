"""HTTP interface of the order site: parse, call one service, render."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import Page, found_or_404
from orders import services, store
from orders.serializers import OrderIn, OrderOut, TimelineEntry, order_lines


def order_or_404(order_id: str) -> dict:
    return found_or_404(store.order_get(order_id), f"order {order_id}")


class OrderList(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("status", enum=list(store.STATUS_RANK)),
            OpenApiParameter("customer_id"),
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int),
        ],
        responses=OrderOut(many=True),
    )
    def get(self, request):
        """Orders, newest first; filter by status and customer_id."""
        page = Page(request)
        status_filter = request.query_params.get("status")
        if status_filter and status_filter not in store.STATUS_RANK:
            return Response({"status": [f"must be one of {', '.join(store.STATUS_RANK)}"]}, status=400)
        orders, count = store.orders_page(
            status=status_filter,
            customer_id=request.query_params.get("customer_id"),
            skip=page.skip,
            limit=page.size,
        )
        return page.response(OrderOut(orders, many=True).data, count)

    @extend_schema(
        request=OrderIn,
        responses={201: OrderOut, 409: None},
        parameters=[OpenApiParameter("Idempotency-Key", location=OpenApiParameter.HEADER, required=False)],
    )
    def post(self, request):
        """Place an order: stored as PENDING, and `order_placed` goes to Kafka."""
        data = OrderIn(data=request.data)
        data.is_valid(raise_exception=True)
        order_data = data.validated_data
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 1 <= len(key) <= 200:
            return Response({"Idempotency-Key": ["must be 1 to 200 characters"]}, status=400)
        try:
            order, created = services.order_place(
                customer_id=order_data["customer_id"],
                items=order_lines(order_data["items"]),
                shipping_address=order_data["shipping_address"],
                total_amount=order_data["total_amount"],
                currency=order_data["currency"],
                idempotency_key=key,
            )
        except services.IdempotencyConflict:
            return Response({"Idempotency-Key": ["already used with a different request body"]}, status=409)
        # A replayed key gets the first answer again, marked as such (as Stripe does).
        headers = {} if created else {"Idempotent-Replayed": "true"}
        return Response(OrderOut(order).data, status=status.HTTP_201_CREATED, headers=headers)


class OrderDetail(APIView):
    @extend_schema(responses=OrderOut)
    def get(self, request, order_id: str):
        """One order, with the status the downstream events have moved it to."""
        return Response(OrderOut(order_or_404(order_id)).data)


class OrderTimeline(APIView):
    @extend_schema(responses=TimelineEntry(many=True))
    def get(self, request, order_id: str):
        """Every event that moved this order, in the order they were applied (topic, partition, offset)."""
        return Response(TimelineEntry(services.order_timeline(order_or_404(order_id)), many=True).data)
