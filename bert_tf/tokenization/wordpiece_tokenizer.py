"""WordpieceTokenizer: greedy longest-match-first sub-word splitting.

For each whitespace-separated word: a word longer than `max_input_chars_per_word` code points
becomes one unknown token; otherwise take the longest vocabulary prefix, then repeatedly the
longest "##"-prefixed continuation; if some position matches nothing the whole word becomes one
unknown token.

Example:
    >>> vocab = {"un": 0, "##aff": 1, "##able": 2, "[UNK]": 3}
    >>> WordpieceTokenizer(vocab).tokenize("unaffable unX")
    ['un', '##aff', '##able', '[UNK]']
"""

from bert_tf.tokenization.text import convert_to_unicode

SUFFIX_INDICATOR = "##"


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece over a fixed vocabulary.

    Args:
        vocab: mapping (or set) of tokens; continuation pieces carry the "##" prefix.
        unk_token: emitted for a word that cannot be covered or is too long.
        max_input_chars_per_word: longest word (in code points) that is split; the original's
            default is 200 (HF's port uses 100).
    """

    def __init__(self, vocab, unk_token="[UNK]", max_input_chars_per_word=200):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word

    def tokenize_word(self, word):
        """One word (no whitespace) -> its pieces, or `[unk_token]`."""
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        pieces = []
        start = 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else SUFFIX_INDICATOR + word[start:end]
                if piece in self.vocab:
                    pieces.append(piece)
                    start = end
                    break
            else:  # nothing matched at `start`: the whole word is unknown.
                return [self.unk_token]
        return pieces

    def tokenize(self, text):
        """Whitespace-separated words (normally BasicTokenizer output) -> word pieces."""
        out = []
        for word in convert_to_unicode(text).split():
            out.extend(self.tokenize_word(word))
        return out
