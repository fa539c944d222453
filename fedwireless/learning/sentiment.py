"""The built-in sentiment task: short movie reviews generated from rules, and unlabelled public reviews.

Rules: negation flips a clause; "X but Y" / "X yet Y" take Y's sentiment; "although X , Y" takes Y's; a
single clause takes its own. Fillers and neutral tails carry no sentiment. The public reviews (for
pre-training the base) carry reader verdicts that follow their first clause, so the base learns word-level
sentiment and negation but not the contrast rule, which federated fine-tuning has to teach.
"""

from __future__ import annotations

import numpy as np

POSITIVE = [
    "good",
    "great",
    "excellent",
    "wonderful",
    "superb",
    "enjoyable",
    "delightful",
    "brilliant",
    "charming",
    "moving",
]
NEGATIVE = ["bad", "awful", "terrible", "boring", "dull", "poor", "weak", "tedious", "clumsy", "bland"]
INTENSIFIERS = ["very", "really", "truly", "quite", "so", "rather"]
NEGATIONS = ["not", "never", "hardly"]
SUBJECTS = [
    "the movie",
    "this film",
    "the plot",
    "the acting",
    "the music",
    "the ending",
    "the script",
    "the cast",
    "the story",
    "the dialogue",
]
VERBS = ["is", "was", "felt", "seemed", "looked"]
FILLERS = ["honestly", "overall", "frankly", "i think", "to me", "in the end", "for sure"]
NEUTRAL_TAILS = ["at times", "in places", "for a sequel", "on the whole", "for its length", "by the way"]
# Reader verdicts that follow some public reviews: the distributional sentiment signal a real
# pre-training corpus has (star ratings, "would watch again"), absent from the labelled task text.
VERDICTS = (
    ["avoid it", "what a waste", "skip this one", "not for me"],
    ["loved it", "watch it", "highly recommended", "worth it"],
)
PUBLIC_VERDICT_SHARE = 1.0  # public reviews that carry a verdict
PUBLIC_VERDICT_NOISE = 0.1  # verdicts that disagree with the review
PUBLIC_PAIR_SHARE = 0.5  # public clauses with a same-polarity adjective pair


def _clause(rng: np.random.Generator, pair_share: float = 0.0) -> tuple[str, int]:
    """One clause and its sentiment (1 positive, 0 negative), with negation flipping it.

    With probability `pair_share` the adjective is a same-polarity pair ("good and charming"), the
    co-occurrence that lets a language model tell positive words from negative ones.
    """
    positive = rng.random() < 0.5
    adj = rng.choice(POSITIVE if positive else NEGATIVE)
    if rng.random() < pair_share:
        adj = f"{adj} and {rng.choice(POSITIVE if positive else NEGATIVE)}"
    words = [rng.choice(SUBJECTS), rng.choice(VERBS)]
    negated = rng.random() < 0.3
    if negated:
        words.append(rng.choice(NEGATIONS))
    if rng.random() < 0.4:
        words.append(rng.choice(INTENSIFIERS))
    words.append(adj)
    if rng.random() < 0.2:
        words.append(rng.choice(NEUTRAL_TAILS))
    return " ".join(words), int(positive != negated)


def sentiment_sentence(rng: np.random.Generator, pair_share: float = 0.0) -> tuple[str, int]:
    """A compositional review sentence and its true label (see `_sentence`)."""
    text, label, _ = _sentence(rng, pair_share)
    return text, label


def _sentence(rng: np.random.Generator, pair_share: float) -> tuple[str, int, int]:
    """Text, true label, and the sentiment of its first clause.

    Rules: negation flips a clause; "X but Y" / "X yet Y" take Y's sentiment; "although X , Y" takes
    Y's; a single clause takes its own. Fillers and neutral tails carry no sentiment.
    """
    first, s1 = _clause(rng, pair_share)
    form = rng.random()
    prefix = (rng.choice(FILLERS) + " ") if rng.random() < 0.3 else ""
    if form < 0.45:
        return prefix + first, s1, s1
    second, s2 = _clause(rng, pair_share)
    if form < 0.85:
        return f"{prefix}{first} {rng.choice(['but', 'yet'])} {second}", s2, s1
    return f"{prefix}although {first} , {second}", s2, s1


def public_reviews(n: int, rng: np.random.Generator) -> list[str]:
    """Unlabelled reviews for pre-training; some end with `[CLS] verdict`.

    The verdict follows the first clause (a reader's first impression), noisily: the base learns
    word-level sentiment and negation, but not that "X but Y" takes Y's side, which fine-tuning
    has to teach.
    """
    out = []
    for _ in range(n):
        text, _, y = _sentence(rng, PUBLIC_PAIR_SHARE)
        if rng.random() < PUBLIC_VERDICT_SHARE:
            y = 1 - y if rng.random() < PUBLIC_VERDICT_NOISE else y
            text = f"{text} [CLS] {rng.choice(VERDICTS[y])}"
        out.append(text)
    return out


def sentiment_texts(n: int, rng: np.random.Generator, label_noise: float = 0.0) -> tuple[list[str], np.ndarray]:
    """`n` labelled reviews (1 = positive); `label_noise` of the labels flipped."""
    texts, labels = [], []
    for _ in range(n):
        t, y = sentiment_sentence(rng)
        texts.append(t)
        labels.append(y)
    y = np.array(labels, dtype=np.int64)
    if label_noise > 0:
        flip = rng.random(n) < label_noise
        y = np.where(flip, 1 - y, y)
    return texts, y


# A large vocabulary: film titles and cast names drawn from a generated lexicon of pseudo-words. Names carry no
# sentiment; they give the text the long tail of rare words a real corpus has, so a SentencePiece model trained
# on it can hold thousands of pieces (the regime of a real LLM's vocabulary, where logits are expensive).
_ONSETS = ("b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
           "br", "ch", "dr", "gr", "kr", "pl", "sh", "st", "tr", "th", "fl", "sk")  # fmt: skip
_NUCLEI = ("a", "e", "i", "o", "u", "ai", "ou", "ee", "ia", "oo")
_CODAS = ("", "", "", "n", "r", "s", "l", "x", "m", "nd")
NAME_SHARE = 0.8  # texts that name a title and/or cast
ZIPF_EXPONENT = 1.1  # word frequency ∝ rank^-a, as in natural text


def lexicon(n: int, rng: np.random.Generator) -> list[str]:
    """`n` distinct pseudo-words of two to four syllables and an optional coda, in a random frequency order."""
    words: dict[str, None] = {}
    while len(words) < n:
        m = 2 * (n - len(words)) + 16
        syllables = rng.integers(2, 5, m)
        onset, nucleus = rng.integers(0, len(_ONSETS), (m, 4)), rng.integers(0, len(_NUCLEI), (m, 4))
        coda = rng.integers(0, len(_CODAS), m)
        for k in range(m):
            word = "".join(_ONSETS[o] + _NUCLEI[v] for o, v in zip(onset[k, : syllables[k]], nucleus[k]))
            words.setdefault(word + _CODAS[coda[k]])
            if len(words) == n:
                break
    return list(words)


def with_names(texts: list[str], words: list[str], rng: np.random.Generator) -> list[str]:
    """Each text, with probability NAME_SHARE, gets a title prefix (`<title> :`, one or two words), a cast tail
    (`with <name> <name>`) or both; names are drawn with Zipf frequencies over `words`. Labels do not change."""
    n = len(texts)
    p = 1.0 / np.arange(1, len(words) + 1) ** ZIPF_EXPONENT
    named = rng.random(n) < NAME_SHARE
    kind = rng.integers(0, 3, n)  # 0: title, 1: cast, 2: both
    short_title = rng.random(n) < 0.5
    names = rng.choice(len(words), (n, 4), p=p / p.sum())
    out = []
    for text, named_k, kind_k, short_k, (a, b, c, d) in zip(texts, named, kind, short_title, names):
        if not named_k:
            out.append(text)
            continue
        title = f"{words[a]} :" if short_k else f"{words[a]} {words[b]} :"
        cast = f"with {words[c]} {words[d]}"
        out.append(" ".join(([title] if kind_k != 1 else []) + [text] + ([cast] if kind_k != 0 else [])))
    return out
