"""The real GLUE MRPC and SST-2 files (../shared/data/glue beside the repository, on the
development machines only) read through the processors: every split, exact row counts,
label sets and the test files' index columns."""

import collections
import pathlib

import pytest

from bert_tf.data.processors import get_processor

GLUE_DIR = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data" / "glue"
pytestmark = pytest.mark.skipif(
    not GLUE_DIR.is_dir(),
    reason=f"the real GLUE files are absent ({GLUE_DIR}); they sit beside the repository "
           f"on development machines only")

# REFERENCE.md section 8 / ../shared/data/README.md.
COUNTS = {"MRPC": (3668, 408, 1725), "SST-2": (67349, 872, 1821)}


@pytest.mark.parametrize("task", sorted(COUNTS))
def test_every_split_reads_with_exact_counts_and_labels(task):
    processor = get_processor(task)
    data_dir = str(GLUE_DIR / task)
    train = processor.get_train_examples(data_dir)
    dev = processor.get_dev_examples(data_dir)
    test = processor.get_test_examples(data_dir)
    assert (len(train), len(dev), len(test)) == COUNTS[task]
    for split in (train, dev):
        labels = collections.Counter(e.label for e in split)
        assert set(labels) == {"0", "1"}, labels
        assert all(e.text_a for e in split)
        assert all((e.text_b is not None) == (task == "MRPC") for e in split)
    # MRPC's train set is about two thirds paraphrases, SST-2's about 56% positive.
    positive = sum(e.label == "1" for e in train) / len(train)
    assert 0.5 < positive < 0.7
    index = processor.test_index(data_dir)
    assert index == [str(i) for i in range(len(test))]
    # The BOM of GLUE's header line never leaks into the first text or the header check.
    assert not train[0].text_a.startswith("\ufeff")
