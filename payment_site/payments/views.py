"""HTTP interface of the payment site (read-only: payments are made by events)."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import Page, PageQuery, errors, found_or_404, page_of
from payments import store
from payments.serializers import PaymentFilter, PaymentOut


class PaymentList(APIView):
    @extend_schema(operation_id="payments_list",
                   parameters=[PaymentFilter, PageQuery], responses={200: page_of(PaymentOut), **errors(400, 503)})
    def get(self, request):
        """Payments, newest first."""
        page = Page(request)
        query = PaymentFilter(data=request.query_params.dict())  # a blank `?status=` is refused, as documented
        query.is_valid(raise_exception=True)
        payments, has_next = store.payments_page(status=query.validated_data.get("status"), skip=page.skip,
                                              limit=page.size)
        return page.response(PaymentOut(payments, many=True).data, has_next)


class PaymentDetail(APIView):
    @extend_schema(responses={200: PaymentOut, **errors(404, 503)})
    def get(self, request, order_id: str):
        """The payment of one order."""
        return Response(PaymentOut(found_or_404(store.payment_get(order_id), f"payment for order {order_id}")).data)
