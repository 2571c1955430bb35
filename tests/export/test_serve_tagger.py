"""bert_tf.serve on an exported tagger: one sentence or a list of them over HTTP give the
SavedModel's tags and entities; malformed requests get a JSON 4xx and the server keeps
answering."""

import http.client
import json
import threading

import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401 - registers the tokenizer ops the SavedModel uses

SENTENCES = ["john smith visited  paris with acme corp .", "Mary met Li Wei in Tokyo .", " "]


@pytest.fixture(scope="module")
def tagger_server(tagger_export):
    from bert_tf.serve import make_server

    _, export = tagger_export
    srv = make_server(str(export / "tagger"), "127.0.0.1", 0, max_body_bytes=4096)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1], export / "tagger"
    srv.shutdown()
    srv.server_close()


def _request(port, method, path, payload=None, raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        body = raw if raw is not None else (None if payload is None else json.dumps(payload))
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _direct(tagger, sentences):
    """{"entities": [...], "tags": [...]} per sentence, straight from the SavedModel."""
    out = tf.saved_model.load(str(tagger)).signatures["serving_default"](
        sentences=tf.constant(sentences))
    out = {k: v.numpy() for k, v in out.items()}
    replies = []
    for i in range(len(sentences)):
        entities = [{"text": out["entity_text"][i, e].decode("utf-8"),
                     "type": out["entity_type"][i, e].decode("utf-8"),
                     "start": int(out["entity_start"][i, e]),
                     "end": int(out["entity_end"][i, e]),
                     "score": pytest.approx(float(out["entity_score"][i, e]))}
                    for e in range(out["num_entities"][i])]
        tags = [t.decode("utf-8") for t in out["tags"][i, :out["num_words"][i]]]
        replies.append({"entities": entities, "tags": tags})
    return replies


def test_one_sentence_and_lists_give_the_savedmodels_entities(tagger_server):
    port, tagger = tagger_server
    want = _direct(tagger, SENTENCES)
    status, many = _request(port, "POST", "/predict", {"sentences": SENTENCES})
    assert status == 200
    assert many == {"entities": [w["entities"] for w in want], "tags": [w["tags"] for w in want]}
    status, one = _request(port, "POST", "/predict", {"sentence": SENTENCES[0]})
    assert status == 200 and one == want[0]
    assert [(e["text"], e["type"]) for e in one["entities"]] == [
        ("john smith", "PER"), ("paris", "LOC"), ("acme corp", "ORG")]
    for entity in one["entities"]:
        assert SENTENCES[0][entity["start"]:entity["end"]] == entity["text"]
        assert 0 < entity["score"] <= 1
    assert many["entities"][2] == [] and many["tags"][2] == []
    status, health = _request(port, "GET", "/health")
    assert status == 200 and health["task"] == "token_classification"
    assert health["labels"][0] == "O"


@pytest.mark.parametrize("body, status", [
    (b'{"instances": ["a sentence"]}', 400),
    (b'{"sentence": "a", "sentences": ["b"]}', 400),
    (b'{"sentence": ["a"]}', 400),
    (b'{"sentences": "a"}', 400),
    (b'{"sentences": []}', 400),
    (b'{"sentences": ["a", 3]}', 400),
    (b'{"sentence": "\\ud800"}', 400),
    (b'["a"]', 400),
    (b'{"sentences": [' + b",".join([b'"a"'] * 300) + b"]}", 413),
])
def test_bad_requests_get_4xx_and_the_server_keeps_answering(tagger_server, body, status):
    port, _ = tagger_server
    got, reply = _request(port, "POST", "/predict", raw=body)
    assert got == status and "error" in reply
    ok, answer = _request(port, "POST", "/predict", {"sentence": "mary visited berlin ."})
    assert ok == 200 and answer["tags"] and isinstance(answer["entities"], list)
