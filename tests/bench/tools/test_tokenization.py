"""bench.tools.tokenization on a few hundred drug-review sentences: three tokenizers, same ids."""

import re


def test_tokenizers_are_timed_and_give_the_same_ids(capsys):
    from bench.tools import tokenization

    assert tokenization.main(["--sentences", "200", "--batch_size", "64", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for name in ("python FullTokenizer", "in-graph tf.data (batch 64)", "HF tokenizers (Rust)"):
        line = next(l for l in out.splitlines() if l.startswith(name))
        assert re.search(r"\s[\d,]+\s+\d+\.\d\dx$", line), line
    assert "python vs in-graph: 0 of 200 rows differ" in out
    assert re.search(r"ours vs HF: \d+ of 200 rows differ", out)
