"""Builders for test data: vocabularies and Google-format checkpoints written independently
of bert_tf (the way google-research/bert wrote them). Fixtures in tests/conftest.py use these."""

import pathlib

# A tiny Google-style bert_config.json (random-weight tests).
TINY_CONFIG = dict(
    vocab_size=99,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    hidden_act="gelu",
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
    max_position_embeddings=64,
    type_vocab_size=2,
    initializer_range=0.02,
)

# The vocab of the original tokenization_test.py, plus the specials every model needs.
ORIGINAL_TEST_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "want", "##want", "##ed", "wa", "un", "runn", "##ing", ",", "low", "lowest",
]


def write_vocab(path, tokens):
    """Writes one token per line (UTF-8); returns the path as str."""
    path = pathlib.Path(path)
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return str(path)


def google_names_and_shapes(config, with_pretraining_heads=True, num_labels=None):
    """The Google TF1 variable table of REFERENCE.md section 1 for `config` (a dict)."""
    H, I, V = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    table = {
        "bert/embeddings/word_embeddings": (V, H),
        "bert/embeddings/token_type_embeddings": (config["type_vocab_size"], H),
        "bert/embeddings/position_embeddings": (config["max_position_embeddings"], H),
        "bert/embeddings/LayerNorm/gamma": (H,),
        "bert/embeddings/LayerNorm/beta": (H,),
        "bert/pooler/dense/kernel": (H, H),
        "bert/pooler/dense/bias": (H,),
    }
    for i in range(config["num_hidden_layers"]):
        p = f"bert/encoder/layer_{i}"
        for part in ("attention/self/query", "attention/self/key", "attention/self/value",
                     "attention/output/dense"):
            table[f"{p}/{part}/kernel"] = (H, H)
            table[f"{p}/{part}/bias"] = (H,)
        table[f"{p}/intermediate/dense/kernel"] = (H, I)
        table[f"{p}/intermediate/dense/bias"] = (I,)
        table[f"{p}/output/dense/kernel"] = (I, H)
        table[f"{p}/output/dense/bias"] = (H,)
        for ln in ("attention/output/LayerNorm", "output/LayerNorm"):
            table[f"{p}/{ln}/gamma"] = (H,)
            table[f"{p}/{ln}/beta"] = (H,)
    if with_pretraining_heads:
        table.update({
            "cls/predictions/transform/dense/kernel": (H, H),
            "cls/predictions/transform/dense/bias": (H,),
            "cls/predictions/transform/LayerNorm/gamma": (H,),
            "cls/predictions/transform/LayerNorm/beta": (H,),
            "cls/predictions/output_bias": (V,),
            "cls/seq_relationship/output_weights": (2, H),
            "cls/seq_relationship/output_bias": (2,),
        })
    if num_labels:
        table["output_weights"] = (num_labels, H)
        table["output_bias"] = (num_labels,)
    return table


def write_tf1_checkpoint(prefix, arrays, with_optimizer_slots=True):
    """Writes `arrays` the way google-research/bert did: TF1 variables + tf.compat.v1 Saver.

    Independent of bert_tf's own writer, so loader tests do not test the writer against itself.
    Adds `adam_m`/`adam_v` slots and `global_step` as a trained checkpoint has.
    """
    import numpy as np
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        variables = []
        for name, value in arrays.items():
            variables.append(tf.compat.v1.get_variable(name, initializer=tf.constant(value)))
            if with_optimizer_slots:
                for slot in ("adam_m", "adam_v"):
                    variables.append(tf.compat.v1.get_variable(
                        f"{name}/{slot}", initializer=tf.zeros_like(tf.constant(value))))
        if with_optimizer_slots:
            variables.append(tf.compat.v1.get_variable(
                "global_step", initializer=np.int64(7), trainable=False))
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, prefix, write_meta_graph=False, write_state=False)
    return prefix




def random_classifier_features(n, seq, seed=0, num_labels=3):
    """`n` InputFeatures of random token ids, 3..seq real tokens each ([CLS] ... [SEP]), two
    segments and random labels, padded to `seq`."""
    import numpy as np

    from bert_tf.tokenization.examples import InputFeatures

    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        length = int(rng.integers(3, seq + 1))
        ids = [2] + list(rng.integers(5, 99, length - 2)) + [3] + [0] * (seq - length)
        mask = [1] * length + [0] * (seq - length)
        split = int(rng.integers(1, length))
        segments = [0] * split + [1] * (length - split) + [0] * (seq - length)
        rows.append(InputFeatures(ids, mask, segments, int(rng.integers(0, num_labels)), True))
    return rows
