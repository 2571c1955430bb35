"""bert_tf.serve on an exported question answerer: one question or lists of them over HTTP give
the SavedModel's answers; malformed requests get a JSON 4xx and the server keeps answering."""

import http.client
import json
import threading

import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401 - registers the tokenizer ops the SavedModel uses

CONTEXT = ("Steve Smith's cafe, the largest in Paris (1895-1943), is where the river Seine "
           "flows through the capital city of France.")
QUESTIONS = ["Where does the river Seine flow?", "Who was born in 1895?"]


@pytest.fixture(scope="module")
def qa_server(squad_export):
    from bert_tf.serve import make_server

    _, export, _ = squad_export(True)
    srv = make_server(str(export), "127.0.0.1", 0, max_body_bytes=4096)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1], export
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


def _direct(export, questions, contexts):
    fn = tf.saved_model.load(str(export)).signatures["serving_default"]
    out = fn(question=tf.constant(questions), context=tf.constant(contexts))
    return {"answer": [t.decode("utf-8") for t in out["text"].numpy()],
            "start": out["start"].numpy().tolist(), "end": out["end"].numpy().tolist(),
            "score": out["score"].numpy().tolist(),
            "has_answer": out["has_answer"].numpy().tolist(),
            "null_odds": out["null_odds"].numpy().tolist()}


def test_one_question_and_lists_give_the_savedmodels_answers(qa_server):
    port, export = qa_server
    want = _direct(export, QUESTIONS, [CONTEXT, CONTEXT])
    status, many = _request(port, "POST", "/predict",
                            {"question": QUESTIONS, "context": [CONTEXT, CONTEXT]})
    assert status == 200
    assert many.keys() == want.keys()
    for key in want:
        assert many[key] == pytest.approx(want[key]) if key in ("score", "null_odds") else (
            many[key] == want[key])
    status, one = _request(port, "POST", "/predict", {"question": QUESTIONS[1],
                                                      "context": CONTEXT})
    assert status == 200 and one == {key: values[1] for key, values in many.items()}
    if one["start"] >= 0:
        assert CONTEXT[one["start"]:one["end"]] == one["answer"]
    status, health = _request(port, "GET", "/health")
    assert status == 200 and health == {"status": "ok", "task": "question_answering",
                                        "version_2_with_negative": True}


@pytest.mark.parametrize("body, status", [
    (b'{"question": "where?"}', 400),
    (b'{"instances": ["a sentence"]}', 400),
    (b'{"question": ["a", "b"], "context": ["c"]}', 400),
    (b'{"question": [], "context": []}', 400),
    (b'{"question": "a", "context": ["c"]}', 400),
    (b'{"question": [3], "context": ["c"]}', 400),
    (b'{"question": "\\ud800", "context": "c"}', 400),
    (b'{"question": [' + b",".join([b'"a"'] * 300) + b'], "context": ['
     + b",".join([b'"c"'] * 300) + b"]}", 413),
])
def test_bad_requests_get_4xx_and_the_server_keeps_answering(qa_server, body, status):
    port, _ = qa_server
    got, reply = _request(port, "POST", "/predict", raw=body)
    assert got == status and "error" in reply
    ok, answer = _request(port, "POST", "/predict", {"question": "Where?", "context": CONTEXT})
    assert ok == 200 and isinstance(answer["answer"], str)
