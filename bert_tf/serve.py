"""A small HTTP JSON endpoint on an exported raw-string classifier SavedModel.

    python -m bert_tf.serve --model EXPORT_DIR/classifier [--port 8080] [--host 127.0.0.1]

POST /predict with {"instances": [{"sentence": "...", "sentence_b": "..."}, ...]} (sentence_b
only for pair models; a bare string is a single-sentence instance). The reply is
{"predictions": [{"label": "positive", "probabilities": {"negative": 0.1, ...}}, ...]} (or
{"score": x} for regression). GET /health answers {"status": "ok", ...}.

Loopback only by default. Malformed JSON, wrong fields, too many instances (400/413) and bodies
over --max_body_bytes (413) get a 4xx with a JSON error; a failure inside the model gets a 500.
The server itself keeps running: every request is handled in its own thread and every error
is caught. TF Serving serves the same SavedModel (see README "Export and serving").
"""

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY_BYTES = 1 << 20
MAX_INSTANCES = 256


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
            raise FileNotFoundError(f"--model: {path} is not a SavedModel folder (no saved_model.pb)")
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
            a.append(item["sentence"])
            b.append(item.get("sentence_b", ""))
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


def make_handler(service, max_body_bytes=MAX_BODY_BYTES):
    class Handler(BaseHTTPRequestHandler):
        server_version = "bert_tf-serve"

        def _reply(self, status, payload):
            body = json.dumps(payload).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

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
                if length is None or not length.isdigit():
                    raise RequestError(411, "Content-Length required")
                if int(length) > max_body_bytes:
                    self.close_connection = True  # the unread body must not be parsed as a request
                    raise RequestError(413, f"body over {max_body_bytes} bytes")
                raw = self.rfile.read(int(length))
                try:
                    payload = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as e:
                    raise RequestError(400, f"malformed JSON: {e}") from None
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


def make_server(model_path, host="127.0.0.1", port=8080, max_body_bytes=MAX_BODY_BYTES):
    service = ClassifierService(model_path)
    server = ThreadingHTTPServer((host, port), make_handler(service, max_body_bytes))
    server.daemon_threads = True
    return server


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bert_tf.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="the exported classifier/ SavedModel")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback by default)")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--max_body_bytes", type=int, default=MAX_BODY_BYTES)
    args = parser.parse_args(argv)
    try:
        server = make_server(args.model, args.host, args.port, args.max_body_bytes)
    except (FileNotFoundError, OSError, KeyError) as e:
        sys.exit(f"error: {e}")
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
