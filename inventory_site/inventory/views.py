"""HTTP interface of the inventory site: stock levels, and restocking for staff."""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from common.api import errors, found_or_404
from inventory import services, store
from inventory.serializers import ProductOut, RestockIn


class ProductList(APIView):
    @extend_schema(operation_id="inventory_list", responses={200: ProductOut(many=True), **errors(503)})
    def get(self, request):
        """Every product's stock ledger: available + reserved + shipped = received."""
        return Response(ProductOut(store.products_all(), many=True).data)


class ProductDetail(APIView):
    @extend_schema(responses={200: ProductOut, **errors(404, 503)})
    def get(self, request, product_id: str):
        """One product's stock."""
        return Response(ProductOut(found_or_404(store.product_get(product_id), f"product {product_id}")).data)


class ProductRestock(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(request=RestockIn, responses={200: ProductOut, **errors(400, 403, 404, 503)})
    def post(self, request, product_id: str):
        """Add units to a product's available (and received) stock (staff only)."""
        data = RestockIn(data=request.data)
        data.is_valid(raise_exception=True)
        product = services.product_restock(product_id=product_id, quantity=data.validated_data["quantity"])
        return Response(ProductOut(found_or_404(product, f"product {product_id}")).data)
