"""bert_tf.serve on the exported classifier: concurrent requests on 127.0.0.1, 4xx for bad
requests, and a server that keeps answering after them."""

import http.client
import json
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

REQUESTS, WORKERS = 60, 6


@pytest.fixture
def server(exported_run):
    from bert_tf.serve import make_server

    _, export = exported_run
    srv = make_server(str(export / "classifier"), "127.0.0.1", 0, max_body_bytes=4096)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def _post(port, body: bytes, path="/predict", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers=headers or {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def _instance(tiny_model, i):
    words = tiny_model.words
    return {"sentence": " ".join(words[(i + k) % len(words)] for k in range(5)),
            "sentence_b": " ".join(words[(3 * i + k) % len(words)] for k in range(4))}


def test_concurrent_requests_from_a_bounded_load_loop(server, tiny_model):
    def one(i):
        started = time.perf_counter()
        status, reply = _post(server, json.dumps({"instances": [_instance(tiny_model, i)] * 2}).encode())
        return status, reply, time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(one, range(REQUESTS)))
    wall = time.perf_counter() - started
    latencies = sorted(r[2] for r in results)
    print(f"{REQUESTS} requests, {WORKERS} concurrent: {REQUESTS / wall:.1f} req/s, latency "
          f"median {1000 * statistics.median(latencies):.0f} ms, "
          f"p95 {1000 * latencies[int(0.95 * len(latencies)) - 1]:.0f} ms")
    assert all(status == 200 for status, _, _ in results)
    for _, reply, _ in results:
        assert len(reply["predictions"]) == 2
        for p in reply["predictions"]:
            assert p["label"] in ("0", "1")
            assert abs(sum(p["probabilities"].values()) - 1.0) < 1e-5
            assert p["label"] == max(p["probabilities"], key=p["probabilities"].get)


@pytest.mark.parametrize("body, status", [
    (b"{not json", 400),
    (b"\xff\xfe", 400),
    (b'["a list"]', 400),
    (b'{"instances": []}', 400),
    (b'{"instances": [{"sentence": "w1 w2"}]}', 400),  # a pair model needs sentence_b
    (b'{"instances": [{"sentence": 3, "sentence_b": "x"}]}', 400),
    (b'{"instances": [' + b",".join([b'"w1"'] * 300) + b"]}", 413),  # too many instances
    (b'{"x": "' + b"a" * 5000 + b'"}', 413),
])
def test_bad_requests_get_4xx_and_the_server_keeps_serving(server, tiny_model, body, status):
    got, reply = _post(server, body)
    assert got == status and "error" in reply
    ok, reply = _post(server, json.dumps({"instances": [_instance(tiny_model, 0)]}).encode())
    assert ok == 200 and len(reply["predictions"]) == 1


def test_health_and_unknown_routes(server):
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=30)
    conn.request("GET", "/health")
    response = conn.getresponse()
    assert response.status == 200 and json.loads(response.read())["pair"] is True
    conn.close()
    assert _post(server, b"{}", path="/nope")[0] == 404
