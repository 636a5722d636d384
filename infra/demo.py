"""`./manage_all.sh demo`: place the README's sample order and print it moving through the pipeline."""

import json
import sys
import time

import requests

SAMPLE_ORDER = {
    "customer_id": "CUST001",
    "items": [
        {"product_id": "P001", "quantity": 2, "price": 29.99},
        {"product_id": "P002", "quantity": 1, "price": 49.99},
    ],
    "shipping_address": "123 Main St, City, Country",
    "total_amount": 109.97,
}
FINAL = {"SHIPPED", "CANCELLED"}


def main(order_site: str) -> int:
    base = order_site.rsplit(":", 1)[0]
    port = int(order_site.rsplit(":", 1)[1])
    print(f"POST {order_site}/orders\n{json.dumps(SAMPLE_ORDER, indent=2)}")
    response = requests.post(f"{order_site}/orders", json=SAMPLE_ORDER, timeout=10)
    print(f"→ {response.status_code} {response.text}\n")
    if response.status_code != 201:
        return 1
    order_id = response.json()["order_id"]

    started, seen, deadline = time.monotonic(), None, time.monotonic() + 60
    while seen not in FINAL and time.monotonic() < deadline:
        order = requests.get(f"{order_site}/orders/{order_id}", timeout=10).json()
        if order["status"] != seen:
            seen = order["status"]
            reason = f" ({order['reason']})" if order.get("reason") else ""
            print(f"{time.monotonic() - started:6.2f}s  {seen}{reason}")
        time.sleep(0.05)
    if seen not in FINAL:
        print("the order did not finish within 60 s: see ./manage_all.sh status and the consumer logs")
        return 1

    print("\nWhat each service now says:")
    for url in [
        f"{order_site}/orders/{order_id}/timeline",
        f"{base}:{port + 1}/payments/{order_id}",
        f"{base}:{port + 2}/inventory/P001",
        f"{base}:{port + 3}/shipments/{order_id}",
    ]:
        answer = requests.get(url, timeout=10)
        print(f"\nGET {url} → {answer.status_code}\n{json.dumps(answer.json(), indent=2)}")
    console = f"{base}:{port - 8001 + 9000}"  # the Kafka console: ports move together (ORDERPIPE_PORT_OFFSET)
    print(f"\nNext: its events hop by hop on the Kafka console, {console}/orders?order_id={order_id}\n"
          f"      and its lines in every component's log, ./manage_all.sh logs --order {order_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
