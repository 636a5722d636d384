"""HTTP interface of the payment site (read-only: payments are made by events)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import Page, found_or_404
from payments import store
from payments.serializers import PaymentOut


class PaymentList(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("status", enum=["COMPLETED", "DECLINED", "REFUNDED"]),
                    OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
        responses=PaymentOut(many=True),
    )
    def get(self, request):
        """Payments, newest first."""
        page = Page(request)
        payments, count = store.payments_page(status=request.query_params.get("status"), skip=page.skip,
                                              limit=page.size)
        return page.response(PaymentOut(payments, many=True).data, count)


class PaymentDetail(APIView):
    @extend_schema(responses=PaymentOut)
    def get(self, request, order_id: str):
        """The payment of one order."""
        return Response(PaymentOut(found_or_404(store.payment_get(order_id), f"payment for order {order_id}")).data)
