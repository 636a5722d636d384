"""HTTP interface of the shipment site (read-only: shipments are made by events)."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import Page, PageQuery, errors, found_or_404, page_of
from shipments import store
from shipments.serializers import ShipmentOut


class ShipmentList(APIView):
    @extend_schema(operation_id="shipments_list",
                   parameters=[PageQuery], responses={200: page_of(ShipmentOut), **errors(400, 503)})
    def get(self, request):
        """Shipments, newest first."""
        page = Page(request)
        shipments, has_next = store.shipments_page(skip=page.skip, limit=page.size)
        return page.response(ShipmentOut(shipments, many=True).data, has_next)


class ShipmentDetail(APIView):
    @extend_schema(responses={200: ShipmentOut, **errors(404, 503)})
    def get(self, request, order_id: str):
        """The shipment of one order."""
        shipment = found_or_404(store.shipment_get(order_id), f"shipment for order {order_id}")
        return Response(ShipmentOut(shipment).data)
