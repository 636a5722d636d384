"""The bench's connections to the order site (bench.orders), against a local HTTP/1.1 server that counts them."""

import http.server
import threading

import pytest

from bench import orders


class CountingSite(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps a connection open for the next request, as gunicorn does
    connections = 0

    def setup(self):
        super().setup()
        type(self).connections += 1  # one handler per connection

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CountingSite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    CountingSite.connections = 0
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_connection_is_reused_until_it_has_been_idle_longer_than_the_site_keeps_it(site, monkeypatch):
    connections = orders.order_site_connections(1)
    for _ in range(3):
        assert connections.request("POST", f"{site}/orders", json={}).status == 201
    assert CountingSite.connections == 1

    monkeypatch.setattr(orders.BrieflyKeptConnections, "IDLE_SECONDS", -1)  # any pause is now too long
    connections.request("POST", f"{site}/orders", json={})
    assert CountingSite.connections == 2
