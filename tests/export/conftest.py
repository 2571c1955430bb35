"""Shared export fixtures: one tiny Google model (with pretraining heads) exported once."""

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
