"""Text counting for the IFEval checkers: words, sentences and tokens, without NLTK data files.

IFEval counts words with `\\w+` (NLTK's RegexpTokenizer), which we match exactly. It counts sentences with
NLTK's trained Punkt model and capitalised words with `nltk.word_tokenize`; neither model can be downloaded
offline, so sentences are split by a rule-based splitter (terminal punctuation followed by a capital, digit or
quote, with a list of abbreviations that do not end sentences) and words by a Treebank-like regex.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")
# Abbreviations that Punkt's English model learned not to end sentences at (the common ones).
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "inc",
        "ltd",
        "co",
        "corp",
        "no",
        "fig",
        "figs",
        "vol",
        "al",
        "approx",
        "dept",
        "est",
        "gen",
        "gov",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mt",
        "ft",
        "u.s",
        "u.k",
        "a.m",
        "p.m",
    ]
)
_SENTENCE_END = re.compile(r"""([.!?]+)(["'\u201d\u2019)\]]*)(\s+)(?=["'\u201c\u2018(\[]?[A-Z0-9*#\-])""")
_TOKEN = re.compile(r"[A-Za-z0-9_]+(?:[-.'][A-Za-z0-9_]+)*\.?|[^\w\s]")


def count_words(text: str) -> int:
    """Words as IFEval counts them: runs of word characters."""
    return len(_WORD.findall(text))


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`: split after . ! ? when the next sentence starts, not after known abbreviations."""
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        before = text[start : match.start()].split()
        last_word = before[-1].lower().rstrip(".") if before else ""
        if match.group(1) == "." and (last_word in _ABBREVIATIONS or re.fullmatch(r"[a-z]", last_word)):
            continue
        sentences.append(text[start : match.end()].strip())
        start = match.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return [s for s in sentences if s]


def count_sentences(text: str) -> int:
    """Number of sentences in `text`."""
    return len(split_sentences(text))


def word_tokens(text: str) -> list[str]:
    """Words and punctuation marks, roughly as NLTK's `word_tokenize` splits them."""
    return [t.rstrip(".") if len(t) > 1 and t.endswith(".") and t.count(".") == 1 else t for t in _TOKEN.findall(text)]
