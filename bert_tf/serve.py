"""A small HTTP JSON endpoint on an exported raw-string classifier SavedModel.

    python -m bert_tf.serve --model EXPORT_DIR/classifier [--port 8080] [--host 127.0.0.1]

POST /predict with {"instances": [{"sentence": "...", "sentence_b": "..."}, ...]} (sentence_b
only for pair models; a bare string is a single-sentence instance). The reply is
{"predictions": [{"label": "positive", "probabilities": {"negative": 0.1, ...}}, ...]} (or
{"score": x} for regression). GET /health answers {"status": "ok", ...}.

A small endpoint for one machine (loopback by default), not a production server: TF Serving
serves the same SavedModel (docs/export-and-serving.md). Every client error gets a 4xx with a
JSON error and the server keeps serving: malformed or too deeply nested JSON, text that is not
valid Unicode, wrong fields (400), a missing or malformed Content-Length (411/400), too many
instances or a body over --max_body_bytes (413), a client that stops sending its body (408 after
--read_timeout seconds). At most --max_connections connections are handled at once; the next
one gets 503 at once. A failure inside the model gets a 500. --host and --port are checked, and
the port bound, before the model loads.
"""

import argparse
import json
import os
import re
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bert_tf import cli

MAX_BODY_BYTES = 1 << 20
MAX_INSTANCES = 256
MAX_CONNECTIONS = 32
READ_TIMEOUT_S = 10.0
_CONTENT_LENGTH = re.compile(r"[0-9]{1,12}")  # ASCII digits only: str.isdigit() accepts "²"
_BUSY_REPLY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
               b"Connection: close\r\nContent-Length: 46\r\n\r\n"
               b'{"error": "too many connections; retry later"}')


class RequestError(ValueError):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class ClassifierService:
    """Loads the SavedModel once; `predict(instances)` -> list of prediction dicts."""

    def __init__(self, path):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401 - registers the tokenizer ops the SavedModel uses

        self._tf = tf
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise FileNotFoundError(f"{path} is not a SavedModel folder (no saved_model.pb)")
        obj = tf.saved_model.load(path)
        self.fn = obj.signatures["serving_default"]
        info_path = os.path.join(path, "assets", "classifier_info.json")
        with open(info_path, encoding="utf-8") as f:
            self.info = json.load(f)
        self.pair = self.info["num_segments"] == 2
        self.labels = self.info["labels"]

    def _texts(self, instances):
        if not isinstance(instances, list) or not instances:
            raise RequestError(400, '"instances" must be a non-empty list')
        if len(instances) > MAX_INSTANCES:
            raise RequestError(413, f"at most {MAX_INSTANCES} instances per request")
        a, b = [], []
        for i, item in enumerate(instances):
            if isinstance(item, str):
                item = {"sentence": item}
            if not isinstance(item, dict) or not isinstance(item.get("sentence"), str):
                raise RequestError(400, f"instances[{i}]: expected a string or an object with a "
                                        f'string "sentence"')
            if self.pair and not isinstance(item.get("sentence_b"), str):
                raise RequestError(400, f'instances[{i}]: this pair model needs "sentence_b"')
            a.append(_utf8(item["sentence"], f"instances[{i}].sentence"))
            b.append(_utf8(item.get("sentence_b", ""), f"instances[{i}].sentence_b"))
        return a, b

    def predict(self, instances):
        a, b = self._texts(instances)
        tf = self._tf
        kwargs = {"sentence": tf.constant(a)}
        if self.pair:
            kwargs["sentence_b"] = tf.constant(b)
        out = self.fn(**kwargs)
        if self.labels is None:
            return [{"score": float(s)} for s in out["score"].numpy()]
        probs = out["probabilities"].numpy()
        names = [x.decode("utf-8") for x in out["label"].numpy()]
        return [{"label": name, "probabilities": {l: float(p) for l, p in zip(self.labels, row)}}
                for name, row in zip(names, probs)]


def _utf8(text, where):
    """The text as UTF-8 bytes; JSON can carry lone surrogates, which no tokenizer can read."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(400, f"{where}: not valid Unicode (a lone surrogate)") from None


class AddressError(ValueError):
    """The server cannot listen on the --host/--port given."""


class BoundedThreadingServer(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` at once; the rest get 503 at once."""

    daemon_threads = True

    def __init__(self, address, handler_class, max_connections=MAX_CONNECTIONS):
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, handler_class)

    def process_request(self, request, client_address):
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(1.0)
                request.sendall(_BUSY_REPLY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def make_handler(service, max_body_bytes=MAX_BODY_BYTES, read_timeout=READ_TIMEOUT_S):
    class Handler(BaseHTTPRequestHandler):
        server_version = "bert_tf-serve"
        timeout = read_timeout  # socket timeout for every read: a stalled client is dropped

        def _reply(self, status, payload):
            body = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def send_error(self, code, message=None, explain=None):
            # http.server's own errors (a request line it cannot parse, an unknown method,
            # too many headers) as JSON 4xx replies too.
            if not str(getattr(self, "request_version", "")).startswith("HTTP/1."):
                self.request_version = "HTTP/1.0"  # a status line even for an unparsed request
            self.close_connection = True
            status = {501: 405, 505: 400}.get(int(code), int(code))
            self._reply(status, {"error": message or self.responses[status][0]})

        def do_GET(self):  # noqa: N802 - http.server's naming
            if self.path.rstrip("/") == "/health":
                self._reply(200, {"status": "ok", "labels": service.labels,
                                  "pair": service.pair})
            else:
                self._reply(404, {"error": f"no route {self.path}; POST /predict"})

        def do_POST(self):  # noqa: N802
            try:
                if self.path.rstrip("/") != "/predict":
                    raise RequestError(404, f"no route {self.path}; POST /predict")
                length = self.headers.get("Content-Length")
                if length is None:
                    raise RequestError(411, "Content-Length required")
                if not _CONTENT_LENGTH.fullmatch(length.strip()):
                    self.close_connection = True
                    raise RequestError(400, f"malformed Content-Length {length!r}")
                if int(length) > max_body_bytes:
                    self.close_connection = True  # the unread body must not be parsed as a request
                    raise RequestError(413, f"body over {max_body_bytes} bytes")
                try:
                    raw = self.rfile.read(int(length))
                except (socket.timeout, TimeoutError):
                    self.close_connection = True
                    raise RequestError(408, f"request body incomplete: no data for "
                                            f"{read_timeout} s (Content-Length {length})") from None
                if len(raw) < int(length):
                    self.close_connection = True
                    raise RequestError(408, f"request body ended after {len(raw)} of {length} "
                                            "bytes")
                try:
                    payload = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as e:
                    raise RequestError(400, f"malformed JSON: {e}") from None
                except RecursionError:
                    raise RequestError(400, "malformed JSON: nested too deeply") from None
                if not isinstance(payload, dict) or "instances" not in payload:
                    raise RequestError(400, 'expected a JSON object with "instances"')
                self._reply(200, {"predictions": service.predict(payload["instances"])})
            except RequestError as e:
                self._reply(e.status, {"error": str(e)})
            except Exception as e:  # noqa: BLE001 - the server must survive any request
                self._reply(500, {"error": f"{type(e).__name__}: {e}"})

        def log_message(self, fmt, *args):  # one line per request on stderr
            sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

    return Handler


def make_server(model_path, host="127.0.0.1", port=8080, max_body_bytes=MAX_BODY_BYTES,
                max_connections=MAX_CONNECTIONS, read_timeout=READ_TIMEOUT_S):
    """Binds (host, port) first, so an unusable address fails before the model loads."""
    try:
        server = BoundedThreadingServer((host, port), None, max_connections)
    except (OSError, OverflowError) as e:
        raise AddressError(f"--host/--port: cannot listen on {host}:{port}: "
                           f"{getattr(e, 'strerror', None) or e}") from None
    try:
        service = ClassifierService(model_path)
    except BaseException:
        server.server_close()
        raise
    server.RequestHandlerClass = make_handler(service, max_body_bytes, read_timeout)
    return server


def main(argv=None):
    parser = cli.ArgumentParser(prog="python -m bert_tf.serve", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the exported classifier/ SavedModel")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default)")
    parser.add_argument("--port", type=cli.bounded(int, 0, 65535), default=8080,
                        help="0 picks a free port")
    parser.add_argument("--max_body_bytes", type=cli.bounded(int, 1), default=MAX_BODY_BYTES)
    parser.add_argument("--max_connections", type=cli.bounded(int, 1), default=MAX_CONNECTIONS,
                        help="connections handled at once; more get 503")
    parser.add_argument("--read_timeout", type=cli.bounded(float, 0.001), default=READ_TIMEOUT_S,
                        help="seconds a client may pause while sending its request")
    args = parser.parse_args(argv)
    try:
        socket.getaddrinfo(args.host, args.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        cli.fail(f"--host: {args.host!r} does not resolve ({e})")
    try:
        server = make_server(args.model, args.host, args.port, args.max_body_bytes,
                             args.max_connections, args.read_timeout)
    except AddressError as e:
        cli.fail(str(e))
    except (OSError, ValueError) as e:
        cli.fail(f"--model: {e}", cli.DATA)
    except KeyError as e:
        cli.fail(f"--model: {args.model}: no {e} in its classifier_info.json or signatures",
                 cli.DATA)
    host, port = server.server_address[:2]
    print(f"serving {args.model} on http://{host}:{port}/predict", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
