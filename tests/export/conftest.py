"""Shared export fixtures: one tiny Google model (with pretraining heads) exported once."""

import json
import socket
import threading

import numpy as np
import pytest

# run_classifier fixtures (tiny model, MRPC data, cached runs) for the classifier export tests.
from training.conftest import _session_cache, cached_run, mrpc_dir, readme_args, tiny_model  # noqa: F401


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    """(Google folder, its arrays, export dir) of a tiny model with MLM/NSP heads."""
    import json

    from support.builders import (TINY_CONFIG, google_names_and_shapes, write_tf1_checkpoint,
                                  write_vocab)

    from bert_tf.export import export_model

    root = tmp_path_factory.mktemp("tiny_export")
    folder = root / "uncased_tiny"  # an uncased model name, as Google's folders have
    folder.mkdir()
    rng = np.random.default_rng(3)
    table = google_names_and_shapes(TINY_CONFIG, True, None)
    arrays = {n: (rng.standard_normal(s) * 0.2).astype(np.float32) for n, s in table.items()}
    for n in arrays:
        if n.endswith("/gamma"):
            arrays[n] += 1.0
    write_tf1_checkpoint(str(folder / "bert_model.ckpt"), arrays)
    (folder / "bert_config.json").write_text(json.dumps(TINY_CONFIG))
    words = ["the", "cat", "sat", "on", "mat", "dog", "ran", "##s", "##ing", "hello", "world",
             ",", ".", "!", "a", "b", "c"]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    filler = [f"w{i}" for i in range(TINY_CONFIG["vocab_size"] - len(specials) - len(words))]
    write_vocab(folder / "vocab.txt", specials + words + filler)
    out = root / "export"
    export_model(str(folder), str(out), seq_length=16, log=lambda _: None)
    return folder, arrays, out


@pytest.fixture
def exported_run(cached_run, tiny_model, mrpc_dir):
    """(the run, its export dir): one run per session, shared by the tests here."""
    def make_args(output_dir):
        return readme_args(tiny_model, mrpc_dir, output_dir, do_predict="true",
                           num_train_epochs="1.0", export_dir=output_dir.parent / "export",
                           export_tflite="true")
    run = cached_run("classifier_export", make_args)
    return run, run.output_dir.parent / "export"


def encoder_inputs(batch=3, seq=12, vocab=99, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, vocab, size=(batch, seq)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[1, seq // 2:] = 0
    types = np.zeros_like(ids)
    types[:, seq // 3:] = 1
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}


def xla_compiled_functions(savedmodel_dir):
    """Names of the functions and nodes a SavedModel marks `_XlaMustCompile` (none should be:
    exports are traced with `portable_ops()`)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((savedmodel_dir / "saved_model.pb").read_bytes())
    found = []
    for meta in proto.meta_graphs:
        library = meta.graph_def.library
        nodes = [n for f in library.function for n in f.node_def] + list(meta.graph_def.node)
        found += [f.signature.name for f in library.function
                  if f.attr["_XlaMustCompile"].b]
        found += [n.name for n in nodes if n.attr["_XlaMustCompile"].b]
    return found


# bert_tf.serve on the exported classifier, for the hardening and fuzz tests.
READ_TIMEOUT_S = 1.0
MAX_CONNECTIONS = 3


@pytest.fixture
def start_server(exported_run):
    """start_server(read_timeout) -> port of a server on the exported classifier."""
    from bert_tf.serve import make_server

    _, export = exported_run
    started = []

    def start(read_timeout=READ_TIMEOUT_S):
        srv = make_server(str(export / "classifier"), "127.0.0.1", 0, max_body_bytes=8192,
                          max_connections=MAX_CONNECTIONS, read_timeout=read_timeout)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        started.append(srv)
        return srv.server_address[1]

    yield start
    for srv in started:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def server(start_server):
    return start_server()


def _raw(port, data: bytes, timeout=10.0):
    """Sends raw bytes, returns (status, JSON body) of the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        reply = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _post(port, body: bytes, content_length=None):
    length = str(len(body)) if content_length is None else content_length
    request = (f"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode("utf-8") + body
    return _raw(port, request)


def _assert_serving(port, tiny_model):
    body = json.dumps({"instances": [{"sentence": tiny_model.words[0],
                                      "sentence_b": tiny_model.words[1]}]}).encode()
    status, reply = _post(port, body)
    assert status == 200 and len(reply["predictions"]) == 1


# A tiny random SQuAD model laid out as a run_squad output_dir, exported once per settings.
SQUAD_EXPORT_SETTINGS = dict(max_seq_length=32, doc_stride=8, max_query_length=8, n_best_size=5,
                             max_answer_length=6)


@pytest.fixture(scope="session")
def squad_export(tmp_path_factory):
    """squad_export(version_2_with_negative) -> (final_model folder, question_answerer export,
    SquadInfo): random weights, the SQuAD test vocabulary; v1.1 through `export_model` on the
    run's output_dir, v2.0 through `save_question_answerer` alone."""
    from squad.squad_builders import SQUAD_VOCAB
    from support.builders import TINY_CONFIG, write_vocab

    import keras
    from bert_tf.checkpoints import SquadInfo, save_google_checkpoint
    from bert_tf.export import export_model
    from bert_tf.export.question_answerer import save_question_answerer
    from bert_tf.modeling import BertConfig, BertQuestionAnswerer

    made = {}

    def make(version_2_with_negative=False):
        if version_2_with_negative not in made:
            root = tmp_path_factory.mktemp("squad_v2" if version_2_with_negative else "squad")
            vocab = write_vocab(root / "vocab.txt", SQUAD_VOCAB)
            keras.utils.set_random_seed(4)
            config = BertConfig.from_dict(dict(TINY_CONFIG, vocab_size=len(SQUAD_VOCAB)))
            model = BertQuestionAnswerer(config).ensure_built()
            # A head 50x the initializer's scale spreads the span scores far apart. With this
            # seed the test questions' answers include one in the last window, a partial word
            # and, for v2.0 at this threshold, answered and unanswered questions.
            model.head.dense.kernel.assign(model.head.dense.kernel * 50.0)
            info = SquadInfo(version_2_with_negative=version_2_with_negative,
                             null_score_diff_threshold=-13.9, **SQUAD_EXPORT_SETTINGS)
            final = root / "run" / "final_model"
            save_google_checkpoint(model, str(final), vocab_file=vocab,
                                   extra_files=info.as_extra_file())
            export = root / "export" / "question_answerer"
            if version_2_with_negative:  # the part alone: export_model is the v1.1 model's
                save_question_answerer(model, info, str(export), vocab)
            else:
                export_model(str(root / "run"), str(root / "export"), log=lambda _: None)
            made[version_2_with_negative] = (final, export, info)
        return made[version_2_with_negative]

    return make


# run_ner fixtures (tiny model, CoNLL data, one run per session) for the tagger export tests.
from ner.conftest import ner_data, ner_model, ner_run  # noqa: E402,F401


@pytest.fixture(scope="session")
def tagger_export(ner_run, tmp_path_factory):
    """(the run_ner run, its export folder): `export_model` on the run's output_dir, once."""
    from bert_tf.export import export_model

    out = tmp_path_factory.mktemp("tagger_export")
    export_model(str(ner_run.output_dir), str(out), log=lambda _: None)
    return ner_run, out
