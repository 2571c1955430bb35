"""A small HTTP JSON endpoint on an exported classifier, question answerer or tagger SavedModel.

    python -m bert_tf.serve --model EXPORT_DIR/classifier [--port 8080] [--host 127.0.0.1]
    python -m bert_tf.serve --model EXPORT_DIR/question_answerer
    python -m bert_tf.serve --model EXPORT_DIR/tagger

Classifier: POST /predict with {"instances": [{"sentence": "...", "sentence_b": "..."}, ...]}
(sentence_b only for pair models; a bare string is a single-sentence instance). The reply is
{"predictions": [{"label": "positive", "probabilities": {"negative": 0.1, ...}}, ...]} (or
{"score": x} for regression).
Question answerer: POST /predict with {"question": "...", "context": "..."}; the reply is
{"answer": "...", "start": 12, "end": 18, "score": 7.5} (character offsets in the context, end
exclusive, -1 when there is no answer; v2.0 models add "has_answer" and "null_odds"). With lists
of questions and contexts, each reply field is a list in the same order.
Tagger: POST /predict with {"sentence": "..."}; the reply is {"entities": [{"text": "Paris",
"type": "LOC", "start": 12, "end": 17, "score": 0.98}, ...], "tags": ["O", ..., "B-LOC"]}.
With {"sentences": [...]}, "entities" and "tags" hold one list per sentence.
GET /health answers {"status": "ok", ...}.

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

    kind = "classifier"

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

    def health(self):
        return {"status": "ok", "labels": self.labels, "pair": self.pair}

    def reply(self, payload):
        """The JSON reply to a request body (already parsed)."""
        if not isinstance(payload, dict) or "instances" not in payload:
            raise RequestError(400, 'expected a JSON object with "instances"')
        return {"predictions": self.predict(payload["instances"])}


class QuestionAnswererService:
    """Loads a question_answerer SavedModel once; `reply(payload)` answers its questions."""

    kind = "question_answerer"

    def __init__(self, path):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401 - registers the tokenizer ops the SavedModel uses

        self._tf = tf
        self.fn = tf.saved_model.load(path).signatures["serving_default"]
        with open(os.path.join(path, "assets", "squad_info.json"), encoding="utf-8") as f:
            self.info = json.load(f)
        self.v2 = bool(self.info["version_2_with_negative"])

    def health(self):
        return {"status": "ok", "task": "question_answering", "version_2_with_negative": self.v2}

    def reply(self, payload):
        if not isinstance(payload, dict) or "question" not in payload or "context" not in payload:
            raise RequestError(400, 'expected a JSON object with "question" and "context"')
        question, context = payload["question"], payload["context"]
        single = isinstance(question, str) and isinstance(context, str)
        if single:
            question, context = [question], [context]
        if not (isinstance(question, list) and isinstance(context, list)):
            raise RequestError(400, '"question" and "context" must both be strings or both lists')
        if not question or len(question) != len(context):
            raise RequestError(400, '"question" and "context" must be non-empty lists of the '
                                    "same length")
        if len(question) > MAX_INSTANCES:
            raise RequestError(413, f"at most {MAX_INSTANCES} questions per request")
        for name, texts in (("question", question), ("context", context)):
            for i, text in enumerate(texts):
                if not isinstance(text, str):
                    raise RequestError(400, f"{name}[{i}]: expected a string")
        tf = self._tf
        out = self.fn(question=tf.constant([_utf8(q, f"question[{i}]")
                                            for i, q in enumerate(question)]),
                      context=tf.constant([_utf8(c, f"context[{i}]")
                                           for i, c in enumerate(context)]))
        fields = {"answer": [t.decode("utf-8") for t in out["text"].numpy()],
                  "start": [int(x) for x in out["start"].numpy()],
                  "end": [int(x) for x in out["end"].numpy()],
                  "score": [float(x) for x in out["score"].numpy()]}
        if self.v2:
            fields["has_answer"] = [bool(x) for x in out["has_answer"].numpy()]
            fields["null_odds"] = [float(x) for x in out["null_odds"].numpy()]
        return {k: v[0] for k, v in fields.items()} if single else fields


class TaggerService:
    """Loads a tagger SavedModel once; `reply(payload)` tags its sentences."""

    kind = "tagger"

    def __init__(self, path):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401 - registers the tokenizer ops the SavedModel uses

        self._tf = tf
        self.fn = tf.saved_model.load(path).signatures["serving_default"]
        with open(os.path.join(path, "assets", "ner_info.json"), encoding="utf-8") as f:
            self.labels = json.load(f)["labels"]

    def health(self):
        return {"status": "ok", "task": "token_classification", "labels": self.labels}

    def reply(self, payload):
        if not isinstance(payload, dict) or ("sentence" in payload) == ("sentences" in payload):
            raise RequestError(400, 'expected a JSON object with "sentence" or "sentences"')
        single = "sentence" in payload
        sentences = [payload["sentence"]] if single else payload["sentences"]
        if single and not isinstance(sentences[0], str):
            raise RequestError(400, '"sentence" must be a string')
        if not isinstance(sentences, list) or not sentences:
            raise RequestError(400, '"sentences" must be a non-empty list of strings')
        if len(sentences) > MAX_INSTANCES:
            raise RequestError(413, f"at most {MAX_INSTANCES} sentences per request")
        for i, text in enumerate(sentences):
            if not isinstance(text, str):
                raise RequestError(400, f"sentences[{i}]: expected a string")
        where = (lambda i: "sentence") if single else (lambda i: f"sentences[{i}]")
        out = self.fn(sentences=self._tf.constant([_utf8(s, where(i))
                                                   for i, s in enumerate(sentences)]))
        out = {k: v.numpy() for k, v in out.items()}
        tags, entities = [], []
        for i in range(len(sentences)):
            tags.append([t.decode("utf-8") for t in out["tags"][i, :out["num_words"][i]]])
            entities.append([
                {"text": out["entity_text"][i, e].decode("utf-8"),
                 "type": out["entity_type"][i, e].decode("utf-8"),
                 "start": int(out["entity_start"][i, e]), "end": int(out["entity_end"][i, e]),
                 "score": float(out["entity_score"][i, e])}
                for e in range(out["num_entities"][i])])
        if single:
            return {"entities": entities[0], "tags": tags[0]}
        return {"entities": entities, "tags": tags}


def load_service(path):
    """The service for the SavedModel at `path`: a question answerer when it carries
    squad_info.json, a tagger when it carries ner_info.json, else a classifier."""
    if not os.path.exists(os.path.join(path, "saved_model.pb")):
        raise FileNotFoundError(f"{path} is not a SavedModel folder (no saved_model.pb)")
    if os.path.exists(os.path.join(path, "assets", "squad_info.json")):
        return QuestionAnswererService(path)
    if os.path.exists(os.path.join(path, "assets", "ner_info.json")):
        return TaggerService(path)
    return ClassifierService(path)


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
                self._reply(200, service.health())
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
                self._reply(200, service.reply(payload))
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
        service = load_service(model_path)
    except BaseException:
        server.server_close()
        raise
    server.RequestHandlerClass = make_handler(service, max_body_bytes, read_timeout)
    return server


def main(argv=None):
    parser = cli.ArgumentParser(prog="python -m bert_tf.serve", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True,
                        help="the exported classifier/, question_answerer/ or tagger/ "
                             "SavedModel")
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
        cli.fail(f"--model: {args.model}: no {e} in its info file or signatures", cli.DATA)
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
