"""HTTP interface of the shipment site (read-only: shipments are made by events)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import Page, found_or_404
from shipments import store
from shipments.serializers import ShipmentOut


class ShipmentList(APIView):
    @extend_schema(parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
                   responses=ShipmentOut(many=True))
    def get(self, request):
        """Shipments, newest first."""
        page = Page(request)
        shipments, count = store.shipments_page(skip=page.skip, limit=page.size)
        return page.response(ShipmentOut(shipments, many=True).data, count)


class ShipmentDetail(APIView):
    @extend_schema(responses=ShipmentOut)
    def get(self, request, order_id: str):
        """The shipment of one order."""
        shipment = found_or_404(store.shipment_get(order_id), f"shipment for order {order_id}")
        return Response(ShipmentOut(shipment).data)
