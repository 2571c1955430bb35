"""Fuzzing `bert_tf.serve` over raw sockets on 127.0.0.1: random request bodies and headers.

Every request is sent whole and the client then half-closes its side, so the server never waits
for more; a reply that does not come within `REPLY_TIMEOUT_S` counts as a hang. Requests with an
HTTP/1.x request line must get a well-formed HTTP response with a status the server documents
(200, or 400 / 404 / 408 / 411 / 413 / 503 with a JSON body holding "error"), never a 500; after
the run the server still answers /health and predicts. Hypothesis generates a bounded number of
requests (derandomized, so CI sends the same ones every run).
"""

import collections
import json
import re
import socket

import pytest

pytest.importorskip("hypothesis", reason="fuzzing needs hypothesis (pip install -e '.[test]')")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# The `server` fixture (tests/export/conftest.py): a served export, max_body_bytes 8192, 1 s reads.
from export.conftest import _assert_serving  # noqa: E402

REPLY_TIMEOUT_S = 10.0
DOCUMENTED_ERRORS = {400, 404, 408, 411, 413, 503}
FUZZ = dict(deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) [^\r\n]*")


def exchange(port, request: bytes) -> bytes:
    """Sends `request`, half-closes, and returns every byte of the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=REPLY_TIMEOUT_S) as sock:
        try:
            sock.sendall(request)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            # The server may answer (404, 413, ...) and close before reading everything we
            # send; its reply is still in our receive queue.
            pass
        reply = b""
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except socket.timeout:
            pytest.fail(f"no complete reply within {REPLY_TIMEOUT_S} s to {request[:300]!r}")
        except ConnectionResetError:
            pass  # a reset after the reply (unread request bytes): the reply is checked below
    return reply


def parse_reply(reply: bytes):
    """(status, headers, body) of one HTTP/1.x response; asserts it is well formed."""
    head, sep, body = reply.partition(b"\r\n\r\n")
    assert sep, f"not an HTTP response: {reply[:300]!r}"
    status_line, *header_lines = head.split(b"\r\n")
    match = _STATUS_LINE.fullmatch(status_line)
    assert match, f"bad status line: {status_line!r}"
    headers = {}
    for line in header_lines:
        name, colon, value = line.partition(b":")
        assert colon, f"bad header line {line!r}"
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    assert int(headers["content-length"]) == len(body), reply[:300]
    return int(match.group(1)), headers, body


def check_documented_reply(request: bytes, reply: bytes):
    """Asserts a documented status with a JSON body; returns (status, payload)."""
    status, headers, body = parse_reply(reply)
    assert status == 200 or status in DOCUMENTED_ERRORS, (status, request[:300], body[:300])
    assert headers.get("content-type") == "application/json", (request[:300], headers)
    payload = json.loads(body)
    if status == 200:
        assert set(payload) & {"predictions", "status"}, payload
    else:
        assert isinstance(payload.get("error"), str) and payload["error"], payload
    return status, payload


# --- Strategies ---------------------------------------------------------------------------


def weighted(*choices):
    """One of the (weight, strategy) choices: hypothesis' one_of does not weight its branches."""
    return st.sampled_from([s for w, s in choices for _ in range(w)]).flatmap(lambda s: s)


def _dump(value):
    # ensure_ascii writes a lone surrogate as its \ud800 escape, which JSON allows.
    return json.dumps(value).encode("utf-8")


# str.split() splits the request line at these (latin-1 decoded): a path must not hold them.
_LINE_WHITESPACE = set(b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0")
other_paths = st.one_of(
    st.sampled_from(["/predict/", "/health", "/health/", "/", "/predict?x=1", "//predict",
                     "/PREDICT", "/%00", "/predict#x"]).map(str.encode),
    st.binary(max_size=40).map(lambda b: b"/" + bytes(c for c in b if c not in _LINE_WHITESPACE)),
)
# Mostly POST /predict, so that most requests reach the body parsing and the model.
routes = weighted((7, st.just((b"POST", b"/predict"))), (1, st.just((b"GET", b"/health"))),
                  (2, st.tuples(st.sampled_from([b"GET", b"POST"]), other_paths)))

texts = st.one_of(st.text(max_size=30),
                  st.sampled_from(["", "the cat", "\ud800", "\x00", "中文"]))
pairs = st.fixed_dictionaries({"sentence": texts, "sentence_b": texts})
instance = st.one_of(
    texts, pairs, st.fixed_dictionaries({"sentence": texts}),
    st.dictionaries(st.sampled_from(["sentence", "sentence_b", "label", ""]),
                    st.one_of(texts, st.none(), st.integers(), st.lists(texts, max_size=2)),
                    max_size=3),
    st.none(), st.integers(), st.floats(), st.lists(texts, max_size=2),
)
instances = st.one_of(st.lists(instance, max_size=5),
                      st.lists(st.just("a"), min_size=250, max_size=260),  # around the cap
                      st.none(), texts, st.integers(),
                      st.dictionaries(st.text(max_size=5), texts, max_size=2))
# Many bodies are valid for the (pair) model, so that the model itself gets random text.
bodies = weighted(
    (4, st.lists(pairs, min_size=1, max_size=4).map(lambda i: _dump({"instances": i}))),
    (2, instances.map(lambda i: _dump({"instances": i}))),
    (1, st.builds(lambda i, extra: _dump({"instances": i, **extra}), instances,
                  st.dictionaries(st.text(max_size=5), texts, max_size=2))),
    (1, st.one_of(st.none(), st.integers(), texts, st.lists(texts, max_size=3)).map(_dump)),
    (1, st.binary(max_size=300)),
    (1, st.sampled_from([b"", b"{", b"[" * 3000, b'{"instances": [' * 600, b"\xff\xfe{}",
                         b'{"instances": ["\\ud800"]}', b'{"instances": "\\u0000"}',
                         b"\xef\xbb\xbf{}", b'{"instances": [1e999]}', b"NaN"])),
    # Around --max_body_bytes (8192).
    (2, st.builds(lambda n, fill: fill * n, st.sampled_from([8192, 8193, 9000]),
                  st.sampled_from([b" ", b"x", b"["]))),
)

# Extra headers; Content-Length is set apart below. A name that is not an HTTP token ends the
# header block for http.server (later headers are ignored), so such names are kept rare.
header_names = weighted(
    (4, st.sampled_from(["Content-Type", "Transfer-Encoding", "Connection", "Expect", "Host",
                         "Content-Encoding", "Accept"])),
    (3, st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_!#$%&'*+.^`|~",
                min_size=1, max_size=12)),
    (1, st.binary(min_size=1, max_size=12).map(
        lambda b: bytes(c for c in b if c not in b":\r\n").decode("latin-1") or "X")),
)
header_values = st.one_of(
    st.sampled_from(["0", "-1", "1e3", "\u00b2", "99999999999999999999", " 10 ", "+5", "0x10",
                     "chunked", "close", "keep-alive", "100-continue", "gzip", "", "1, 2"]),
    st.binary(max_size=30).map(
        lambda b: bytes(c for c in b if c not in b"\r\n").decode("latin-1")),
)
length_kinds = st.sampled_from(["right"] * 5 + ["none", "short", "long", "bogus", "twice"])


@st.composite
def http_requests(draw):
    """A request with an HTTP/1.x request line, random headers and a random body."""
    method, path = draw(routes)
    version = draw(st.sampled_from([b"HTTP/1.0", b"HTTP/1.1"]))
    body = draw(bodies)
    headers = draw(st.lists(st.tuples(header_names, header_values), max_size=4))
    right = str(len(body))
    lengths = {"right": [right], "none": [], "short": [str(max(0, len(body) - 1))],
               "long": [str(len(body) + 7)], "bogus": [draw(header_values)],
               "twice": [right, draw(header_values)]}[draw(length_kinds)]
    for value in lengths:
        headers.insert(draw(st.integers(0, len(headers))), ("Content-Length", value))
    lines = [method + b" " + path + b" " + version]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# --- Tests --------------------------------------------------------------------------------


def test_random_requests_get_documented_json_replies(server, tiny_model):
    replies = collections.Counter()

    @settings(max_examples=120, **FUZZ)
    @given(request=http_requests())
    def one_request(request):
        status, payload = check_documented_reply(request, exchange(server, request))
        replies["predictions" if "predictions" in payload else status] += 1

    one_request()
    # Guards the fuzzing itself: the budget went to requests, and random text reached the model.
    assert sum(replies.values()) >= 100 and replies["predictions"] >= 5, replies
    _assert_serving(server, tiny_model)
    status, _, body = parse_reply(exchange(server, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_random_bytes_never_get_a_500_or_a_hang(server, tiny_model):
    # Arbitrary bytes, request line included: whatever the reply, it comes at once, is no 500,
    # and the server keeps serving.
    @settings(max_examples=30, **FUZZ)
    @given(raw=st.one_of(st.binary(max_size=200),
                         st.builds(lambda a, b: a + b"\r\n\r\n" + b, st.binary(max_size=80),
                                   st.binary(max_size=80))))
    def one_request(raw):
        reply = exchange(server, raw)
        match = _STATUS_LINE.match(reply)
        assert not (match and match.group(1) == b"500"), (raw, reply[:300])

    one_request()
    _assert_serving(server, tiny_model)


# Minimal requests found by fuzzing the request line and the header count: http.server's own
# error replies, which serve.py turns into JSON.
@pytest.mark.parametrize("request_bytes", [
    b"\x00\r\n\r\n",  # not 'METHOD PATH VERSION'
    b"A / HTTP/1.1\r\n\r\n",  # an unknown method
    b"GET / HTTP/1.1\r\n" + b"A: b\r\n" * 101 + b"\r\n",  # over 100 header lines
], ids=["malformed-request-line", "unknown-method", "too-many-headers"])
def test_malformed_requests_get_a_json_error(server, tiny_model, request_bytes):
    status, headers, body = parse_reply(exchange(server, request_bytes))
    assert 400 <= status < 500 and headers.get("content-type") == "application/json"
    assert json.loads(body)["error"]
    _assert_serving(server, tiny_model)
