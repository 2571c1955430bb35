"""The top-level API: every name in `bert_tf.__all__` imports, the common imports work, and
`import bert_tf` itself stays light (TensorFlow loads with the first name that needs it, after
the environment defaults are set). Import checks run in fresh interpreters: this process has
long since imported everything."""

import os
import subprocess
import sys
import textwrap

import pytest

import bert_tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_every_name_in_all_imports():
    assert len(bert_tf.__all__) == len(set(bert_tf.__all__))
    out = run_python("""
        import bert_tf
        missing = [n for n in bert_tf.__all__ if getattr(bert_tf, n, None) is None]
        star = {}
        exec("from bert_tf import *", star)
        print("MISSING", missing, "STAR", sorted(set(bert_tf.__all__) - set(star)))
    """)
    assert "MISSING [] STAR []" in out


def test_main_api_is_exported():
    wanted = {"BertConfig", "BertEncoder", "BertClassifier", "BertPretrainer",
              "BertQuestionAnswerer", "BertMaskedLMHead", "BertNextSentenceHead",
              "BertClassificationHead", "BertSpanHead", "BertTokenClassificationHead",
              "FullTokenizer", "BertPreprocessor", "load_pretrained", "save_google_checkpoint"}
    assert wanted <= set(bert_tf.__all__)
    assert wanted <= set(dir(bert_tf))


def test_common_imports_are_the_subpackages_objects():
    out = run_python("""
        from bert_tf import (BertClassifier, BertEncoder, BertPreprocessor, FullTokenizer,
                             load_pretrained)
        import bert_tf.checkpoints, bert_tf.modeling, bert_tf.tokenization
        print("SAME", BertEncoder is bert_tf.modeling.BertEncoder
              and BertClassifier is bert_tf.modeling.BertClassifier
              and FullTokenizer is bert_tf.tokenization.FullTokenizer
              and BertPreprocessor is bert_tf.tokenization.BertPreprocessor
              and load_pretrained is bert_tf.checkpoints.load_pretrained)
    """)
    assert "SAME True" in out


def test_import_bert_tf_does_not_import_tensorflow():
    out = run_python("""
        import sys
        import bert_tf
        print("LOADED", sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
    """)
    assert "LOADED []" in out


def test_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="NoSuchThing"):
        bert_tf.NoSuchThing  # noqa: B018
