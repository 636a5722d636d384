"""HTTP interface of the order site: parse, call one service, render."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import Page, PageQuery, Problem, errors, found_or_404, page_of
from orders import selectors, services, store
from orders.serializers import CancelIn, FinalOrder, OrderFilter, OrderIn, OrderOut, TimelineEntry, order_lines


def order_or_404(order_id: str) -> dict:
    return found_or_404(store.order_get(order_id), f"order {order_id}")


def order_out(order: dict) -> dict:
    return OrderOut({**order, "cancellation": selectors.cancellation_of(order)}).data


class OrderList(APIView):
    @extend_schema(operation_id="orders_list",
                   parameters=[OrderFilter, PageQuery], responses={200: page_of(OrderOut), **errors(400, 503)})
    def get(self, request):
        """Orders, newest first; filter by status and customer_id, or list the stuck ones."""
        page = Page(request)
        query = OrderFilter(data=request.query_params.dict())  # a blank or unknown filter is refused
        query.is_valid(raise_exception=True)
        if query.validated_data["stuck"]:
            orders = selectors.orders_stuck()
            return page.response([order_out(order) for order in orders[page.skip:page.skip + page.size]],
                                 len(orders) > page.skip + page.size)
        orders, has_next = store.orders_page(
            status=query.validated_data.get("status"),
            customer_id=query.validated_data.get("customer_id"),
            skip=page.skip,
            limit=page.size,
        )
        return page.response([order_out(order) for order in orders], has_next)

    @extend_schema(
        request=OrderIn,
        responses={201: OrderOut, 409: OpenApiResponse(Problem, description="the Idempotency-Key was used with "
                                                                             "another body"), **errors(400, 503)},
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
            return Response({"detail": "Idempotency-Key already used with a different request body"}, status=409)
        # A replayed key gets the first answer again, marked as such (as Stripe does).
        headers = {} if created else {"Idempotent-Replayed": "true"}
        return Response(order_out(order), status=status.HTTP_201_CREATED, headers=headers)


class OrderDetail(APIView):
    @extend_schema(responses={200: OrderOut, **errors(404, 503)})
    def get(self, request, order_id: str):
        """One order, with the status the downstream events have moved it to."""
        return Response(order_out(order_or_404(order_id)))


class OrderTimeline(APIView):
    @extend_schema(responses={200: TimelineEntry(many=True), **errors(404, 503)})
    def get(self, request, order_id: str):
        """Every event that moved this order, in the order they were applied (topic, partition, offset)."""
        return Response(TimelineEntry(selectors.order_timeline(order_or_404(order_id)), many=True).data)


class OrderCancel(APIView):
    @extend_schema(request=CancelIn, responses={202: OrderOut, 409: OpenApiResponse(FinalOrder, description="the order "
                   "is SHIPPED or CANCELLED: it can no longer be cancelled"), **errors(400, 404, 503)})
    def post(self, request, order_id: str):
        """Ask to cancel an order that has not shipped: 202, and the pipeline decides. The order ends CANCELLED
        (payment refunded, stock back) or, if the parcel left first, SHIPPED with the cancel "too late".
        A repeated request changes nothing; on a SHIPPED or CANCELLED order it is a 409."""
        data = CancelIn(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            order = services.order_cancel(order_id=order_id, note=data.validated_data.get("reason"))
        except services.UnknownOrder:
            raise NotFound(f"no order {order_id}") from None
        except services.OrderFinal as final:
            return Response({"detail": f"the order is {final.status}: it can no longer be cancelled",
                             "status": final.status}, status=status.HTTP_409_CONFLICT)
        return Response(order_out(order), status=status.HTTP_202_ACCEPTED)
