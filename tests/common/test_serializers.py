"""The sites' serializers build their fields once per class (common.api.Serializer), and each request still gets
its own validated data, errors and answer, however many requests a worker's threads serve at once."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from orders.serializers import OrderIn, OrderOut


def order_body(n: int, *, total: str | None = None) -> dict:
    return {"customer_id": f"customer-{n}", "shipping_address": f"{n} Main St",
            "items": [{"product_id": f"P{n:03}", "quantity": n % 7 + 1, "price": "2.50"}],
            "total_amount": total or f"{(n % 7 + 1) * 2.5:.2f}"}


def test_the_instances_of_a_serializer_share_its_fields_but_not_their_data():
    first, second = OrderIn(data=order_body(1)), OrderIn(data=order_body(2, total="1.00"))

    assert first.fields is second.fields
    assert first.is_valid() and not second.is_valid()
    assert first.validated_data["customer_id"] == "customer-1" and not first.errors
    assert set(second.errors) == {"total_amount"} and not second.validated_data


def test_a_context_or_partial_which_shared_fields_would_not_see_is_refused():
    with pytest.raises(TypeError, match="shares its fields"):
        OrderIn(data=order_body(1), partial=True)
    with pytest.raises(TypeError, match="shares its fields"):
        OrderOut({}, context={"request": None})


def test_requests_served_at_once_each_get_their_own_validation_and_answer():
    def serve(n: int):
        body = order_body(n, total="1.00" if n % 3 == 0 else None)
        request = OrderIn(data=body)
        if not request.is_valid():
            return n, None, request.errors
        order = {"_id": f"order-{n}", "status": "PENDING", "reason": None, "created_at": datetime.now(UTC),
                 "updated_at": datetime.now(UTC), "cancellation": None, "currency": "USD",
                 **{**request.validated_data, "items": [{**item, "unit_price": item["price"]}
                                                        for item in request.validated_data["items"]]}}
        return n, OrderOut(order).data, None

    with ThreadPoolExecutor(8) as pool:
        served = list(pool.map(serve, range(600)))

    for n, answer, errors in served:
        if n % 3 == 0:
            assert answer is None and set(errors) == {"total_amount"}, (n, errors)
        else:
            assert errors is None
            assert (answer["order_id"], answer["customer_id"], answer["shipping_address"]) == (
                f"order-{n}", f"customer-{n}", f"{n} Main St")
            [item] = answer["items"]
            assert (item["product_id"], item["quantity"], str(item["price"])) == (f"P{n:03}", n % 7 + 1, "2.50")
