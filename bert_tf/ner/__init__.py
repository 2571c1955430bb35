"""Token classification (named-entity recognition): conlleval's entity-level metrics
(`metrics`, pure Python) and the `predictions.txt` writer (`predictions`). Reading CoNLL files
and aligning words with WordPieces are in `bert_tf.data.conll` and `bert_tf.data.ner_features`;
the guide is docs/token-classification.md.
"""
