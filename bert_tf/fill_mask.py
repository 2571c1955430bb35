"""Fill-mask and next-sentence prediction with a pretrained BERT's own heads.

    python -m bert_tf.fill_mask --model DIR --text "the [MASK] sat on the mat ." [--top_k 5]
    python -m bert_tf.fill_mask --model DIR --text_a "I took it daily." --text_b "It helped."

`--model` is a Google folder (or `bert_model.ckpt` prefix) or an HF safetensors folder, loaded as
a BertPretrainer with its `vocab.txt`. For `--text`, every literal `[MASK]` becomes one [MASK]
token (the rest goes through FullTokenizer), and the top-k vocabulary tokens with their
probabilities are printed per mask. For `--text_a/--text_b`, P(B follows A) is printed:
softmax(nsp_logits)[0] (label 0 = IsNext, 1 = random next sentence). When the checkpoint lacks
the `cls/*` heads they are freshly initialised and a warning says predictions are meaningless.

Example:
    >>> predictor = Predictor.load("uncased_L-2_H-128_A-2")  # doctest: +SKIP
    >>> predictor.fill_mask("the [MASK] sat on the mat .", top_k=2)  # doctest: +SKIP
    [[('cat', 0.31), ('dog', 0.12)]]
    >>> predictor.next_sentence("I took it daily.", "It helped.")  # doctest: +SKIP
    0.97
"""

import os
import re
import sys
from typing import List, Optional, Tuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from bert_tf import cli  # noqa: E402

MASK = "[MASK]"
_MASK_RE = re.compile(re.escape(MASK))


class FillMaskError(ValueError):
    """Input the model cannot score (no [MASK], too long, an empty sentence)."""


class Predictor:
    """A BertPretrainer with its tokenizer, for fill-mask and next-sentence scoring.

    Args:
        model: a built BertPretrainer (with `load_report` when loaded from a checkpoint).
        tokenizer: a FullTokenizer over the model's vocabulary.
        max_seq_length: longest input (default: the model's max_position_embeddings).
    """

    def __init__(self, model, tokenizer, max_seq_length: Optional[int] = None):
        self.model = model
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length or model.config.max_position_embeddings

    @classmethod
    def load(cls, path: str, do_lower_case: Optional[bool] = None) -> "Predictor":
        """Loads `path` (Google or HF folder); `do_lower_case` None: inferred from the folder."""
        from bert_tf.checkpoints import CheckpointError
        from bert_tf.modeling.pretrainer import BertPretrainer
        from bert_tf.tokenization import FullTokenizer

        model = BertPretrainer.from_pretrained(path)
        if not model.vocab_file:
            raise CheckpointError(f"{path}: no vocab.txt beside the weights")
        return cls(model, FullTokenizer(model.vocab_file, do_lower_case=do_lower_case))

    @property
    def fresh_heads(self) -> List[str]:
        """The `cls/*` variables not found in the checkpoint (left at random initial values)."""
        report = getattr(self.model, "load_report", None)
        return [n for n in (report.missing if report else []) if n.startswith("cls/")]

    def warning(self) -> Optional[str]:
        """A one-line warning when the heads were never trained, else None."""
        if not self.fresh_heads:
            return None
        return (f"warning: the checkpoint has no pretraining heads ({', '.join(self.fresh_heads)} "
                f"freshly initialised): predictions are meaningless")

    def _tokens(self, text: str) -> List[str]:
        # FullTokenizer would split "[MASK]" into "[", "mask", "]": tokenize around it.
        pieces = _MASK_RE.split(text)
        tokens = self.tokenizer.tokenize(pieces[0])
        for piece in pieces[1:]:
            tokens.append(MASK)
            tokens.extend(self.tokenizer.tokenize(piece))
        return tokens

    def _inputs(self, tokens_a, tokens_b, positions):
        import numpy as np

        from bert_tf.tokenization import pack_tokens

        needed = len(tokens_a) + len(tokens_b or []) + (3 if tokens_b else 2)
        if needed > self.max_seq_length:
            raise FillMaskError(f"--text: {needed} tokens, longer than the model's "
                             f"{self.max_seq_length} positions")
        f = pack_tokens(tokens_a, tokens_b, needed, self.tokenizer)
        batch = {"input_word_ids": [f.input_ids], "input_mask": [f.input_mask],
                 "input_type_ids": [f.segment_ids], "masked_lm_positions": [positions or [0]]}
        return {k: np.asarray(v, np.int32) for k, v in batch.items()}

    def fill_mask(self, text: str, top_k: int = 5) -> List[List[Tuple[str, float]]]:
        """Per [MASK] in `text` (in order): the `top_k` (token, probability) pairs, best first.

        Raises:
            FillMaskError: `text` holds no [MASK], or is longer than the model's positions.
        """
        import numpy as np

        from bert_tf.training.metrics import softmax

        tokens = self._tokens(text)
        # +1: [CLS] comes first in the packed sequence.
        positions = [i + 1 for i, t in enumerate(tokens) if t == MASK]
        if not positions:
            raise FillMaskError(f"--text: no {MASK} in {text!r}")
        logits = self.model(self._inputs(tokens, None, positions), training=False)["mlm_logits"]
        probs = softmax(np.asarray(logits, np.float64)[0])
        top_k = max(1, min(top_k, probs.shape[-1]))
        results = []
        for row in probs:
            best = np.argsort(-row, kind="stable")[:top_k]
            results.append([(self.tokenizer.inv_vocab[int(i)], float(row[i])) for i in best])
        return results

    def next_sentence(self, text_a: str, text_b: str) -> float:
        """P(text_b follows text_a): softmax(nsp_logits)[0] (label 0 = IsNext)."""
        import numpy as np

        from bert_tf.training.metrics import softmax

        tokens_a, tokens_b = self._tokens(text_a), self._tokens(text_b)
        if not tokens_a or not tokens_b:
            raise FillMaskError("--text_a and --text_b must both hold some text")
        logits = self.model(self._inputs(tokens_a, tokens_b, None), training=False)["nsp_logits"]
        return float(softmax(np.asarray(logits, np.float64))[0, 0])


FLAGS = flags.FLAGS


def _define_flags():
    flags.DEFINE_string("model", None, "Google folder / bert_model.ckpt prefix or HF folder.")
    flags.DEFINE_string("text", None, "Text with one or more [MASK] to fill.")
    flags.DEFINE_integer("top_k", 5, "Tokens printed per [MASK].", lower_bound=1)
    flags.DEFINE_string("text_a", None, "Next-sentence mode: the first sentence.")
    flags.DEFINE_string("text_b", None, "Next-sentence mode: the candidate next sentence.")
    flags.DEFINE_bool("do_lower_case", None, "Lower-case the text (default: inferred from the "
                      "folder name, else True).")


def main(argv):
    del argv
    if not FLAGS.model:
        cli.fail("--model is required")
    pair = FLAGS.text_a is not None or FLAGS.text_b is not None
    if not FLAGS.text and not pair:
        cli.fail("give --text (with [MASK]) or --text_a and --text_b")
    if pair and (FLAGS.text_a is None or FLAGS.text_b is None):
        cli.fail("next-sentence mode needs both --text_a and --text_b")
    from bert_tf.errors import USER_ERRORS
    try:
        predictor = Predictor.load(FLAGS.model, FLAGS.do_lower_case)
        warning = predictor.warning()
        if warning:
            print(warning, file=sys.stderr, flush=True)
        if FLAGS.text:
            for index, candidates in enumerate(predictor.fill_mask(FLAGS.text, FLAGS.top_k)):
                print(f"[MASK] {index + 1}: " + "  ".join(f"{token} {p:.4f}"
                                                        for token, p in candidates))
        if pair:
            print(f"P(is next) = {predictor.next_sentence(FLAGS.text_a, FLAGS.text_b):.4f}")
    except (FillMaskError, *USER_ERRORS) as e:
        cli.fail(str(e), cli.USAGE if isinstance(e, FillMaskError) else cli.exit_status(e))


if __name__ == "__main__":
    _define_flags()
    cli.run_absl(main)
