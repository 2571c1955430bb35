"""Tiny task-data files in the exact layouts of the real GLUE / XNLI downloads.

Each `GLUE_LAYOUTS[task]` maps a file name to its rows (lists of fields, the
header included where the real file has one). Texts contain unbalanced and
balanced double quotes: the original reads TSV with quotechar=None, so they
must come back literally and never swallow a tab or a newline.
"""

import pathlib

QUOTED = 'He said "hello'  # an unbalanced quote: csv quoting would eat the rest of the file
QUOTED2 = '" the witness " , of course'

MRPC_HEADER = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
MNLI_HEADER = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse",
               "sentence2_binary_parse", "sentence1_parse", "sentence2_parse",
               "sentence1", "sentence2"]
STSB_HEADER = ["index", "genre", "filename", "year", "old_index", "source1", "source2",
               "sentence1", "sentence2"]


def _mnli_row(index, s1, s2, *labels):
    return [str(index), "31193", f"{index}n", "government", "( ( x ) )", "( y )",
            "(ROOT (S x))", "(ROOT (S y))", s1, s2, *labels]


GLUE_LAYOUTS = {
    "mrpc": {
        "train.tsv": [MRPC_HEADER, ["1", "702876", "702977", QUOTED, QUOTED2],
                      ["0", "2108705", "2108831", "Yucaipa owned it .", "Yucaipa bought it ."]],
        "dev.tsv": [MRPC_HEADER, ["1", "1355540", "1355592", "He is .", "He was ."]],
        "test.tsv": [["index", "#1 ID", "#2 ID", "#1 String", "#2 String"],
                     ["0", "1089874", "1089925", "PCCW 's chief .", QUOTED],
                     ["1", "3019446", "3019327", "The world 's .", "Its share ."]],
    },
    "cola": {  # train/dev have no header
        "train.tsv": [["gj04", "1", "", QUOTED], ["gj04", "0", "*", "They drank the pub ."]],
        "dev.tsv": [["gj04", "1", "", "The sailors rode the breeze clear of the rocks ."]],
        "test.tsv": [["index", "sentence"], ["0", "Bill whistled past the house ."],
                     ["1", QUOTED2]],
    },
    "sst2": {
        "train.tsv": [["sentence", "label"], ["hide new secretions ", "0"], [QUOTED, "1"]],
        "dev.tsv": [["sentence", "label"], ["it 's a charming journey . ", "1"]],
        "test.tsv": [["index", "sentence"], ["0", "uneasy mishmash ."], ["1", QUOTED2]],
    },
    "mnli": {
        "train.tsv": [MNLI_HEADER + ["label1", "gold_label"],
                      _mnli_row(0, QUOTED, "Product and geography .", "neutral", "neutral"),
                      _mnli_row(1, "You know .", "You lose .", "entailment", "entailment")],
        "dev_matched.tsv": [MNLI_HEADER + ["label1", "label2", "label3", "label4", "label5",
                                           "gold_label"],
                            _mnli_row(9815, "The new rights .", QUOTED2, "neutral", "entailment",
                                      "neutral", "neutral", "neutral", "neutral")],
        "test_matched.tsv": [MNLI_HEADER, _mnli_row(0, "Hierbas .", "Hierbas is a name .")],
        "dev_mismatched.tsv": [MNLI_HEADER + ["label1", "label2", "label3", "label4", "label5",
                                              "gold_label"],
                               _mnli_row(7, "Your gift .", "Hundreds .", "contradiction",
                                         "contradiction", "contradiction", "contradiction",
                                         "contradiction", "contradiction")],
        "test_mismatched.tsv": [MNLI_HEADER, _mnli_row(3, "What changes ?", QUOTED)],
    },
    "qqp": {
        "train.tsv": [["id", "qid1", "qid2", "question1", "question2", "is_duplicate"],
                      ["133273", "213221", "213222", QUOTED, "How is ?", "0"],
                      ["402555", "536040", "536041", "How do I ?", "How can I ?", "1"]],
        "dev.tsv": [["id", "qid1", "qid2", "question1", "question2", "is_duplicate"],
                    ["201359", "303345", "303346", "Why are ?", "Why do ?", "1"]],
        "test.tsv": [["id", "question1", "question2"], ["0", "Would ?", QUOTED2]],
    },
    "qnli": {
        "train.tsv": [["index", "question", "sentence", "label"],
                      ["0", "When ?", QUOTED, "not_entailment"],
                      ["1", "What ?", "This .", "entailment"]],
        "dev.tsv": [["index", "question", "sentence", "label"],
                    ["0", "Who ?", "Him .", "entailment"]],
        "test.tsv": [["index", "question", "sentence"], ["0", "Where ?", QUOTED2]],
    },
    "rte": {
        "train.tsv": [["index", "sentence1", "sentence2", "label"],
                      ["0", QUOTED, "Christopher Reeve had an accident .", "not_entailment"]],
        "dev.tsv": [["index", "sentence1", "sentence2", "label"],
                    ["0", "Dana .", "Dana Reeve .", "entailment"]],
        "test.tsv": [["index", "sentence1", "sentence2"], ["0", "Mangla .", QUOTED2]],
    },
    "wnli": {
        "train.tsv": [["index", "sentence1", "sentence2", "label"],
                      ["0", QUOTED, "The drain .", "1"]],
        "dev.tsv": [["index", "sentence1", "sentence2", "label"],
                    ["0", "The trophy .", "It .", "0"]],
        "test.tsv": [["index", "sentence1", "sentence2"], ["0", "Maude .", QUOTED2]],
    },
    "stsb": {
        "train.tsv": [STSB_HEADER + ["score"],
                      ["0", "main-captions", "MSRvid", "2012test", "0001", "none", "none",
                       QUOTED, "A plane is taking off .", "5.000"],
                      ["1", "main-captions", "MSRvid", "2012test", "0004", "none", "none",
                       "A man .", "A man plays .", "3.800"]],
        "dev.tsv": [STSB_HEADER + ["score"],
                    ["0", "main-captions", "MSRvid", "2012test", "0000", "none", "none",
                     "A man with a hard hat .", QUOTED2, "5.000"]],
        "test.tsv": [STSB_HEADER, ["0", "main-captions", "MSRvid", "2012test", "0024", "none",
                                   "none", "A girl .", "A girl styles ."]],
    },
}

XNLI_DEV_HEADER = ["language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse",
                   "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "promptID",
                   "pairID", "genre", "label1", "label2", "label3", "label4", "label5"]


def _xnli_row(language, label, s1, s2):
    return [language, label, "", "", "", "", s1, s2, "1", "1", "facetoface",
            label, label, label, label, label]


XNLI_LAYOUT = {
    "multinli/multinli.train.zh.tsv": [["premise", "hypo", "label"],
                                       ["他说 " + QUOTED, "他没说", "contradictory"],
                                       ["好", "不错", "entailment"]],
    "multinli/multinli.train.de.tsv": [["premise", "hypo", "label"], ["Ja", "Nein", "neutral"]],
    "xnli.dev.tsv": [XNLI_DEV_HEADER, _xnli_row("ar", "neutral", "a", "b"),
                     _xnli_row("zh", "entailment", "我", QUOTED2),
                     _xnli_row("de", "contradiction", "c", "d"),
                     _xnli_row("zh", "neutral", "你", "他")],
    "xnli.test.tsv": [XNLI_DEV_HEADER, _xnli_row("zh", "neutral", "一", "二"),
                      _xnli_row("en", "neutral", "one", "two")],
}


def write_table(path, rows, delimiter="\t"):
    """Writes rows joined by `delimiter`, one per line, as UTF-8; returns the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(delimiter.join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_layout(directory, layout):
    for name, rows in layout.items():
        write_table(pathlib.Path(directory) / name, rows)
    return str(directory)
