"""C4 line and document heuristics (Raffel et al. 2020, "Exploring the Limits of Transfer Learning", 2.2).

Same rules, order and defaults as datatrove's C4QualityFilter (which follows TFDS c4_utils): lines
without terminal punctuation, with fewer than 3 words, mentioning javascript or cookie/terms
policies are removed from the text; documents with "lorem ipsum", a curly bracket or fewer than
5 sentences are dropped. Sentences are counted with spaCy's sentencizer rule on our fast splitter.
"""

from __future__ import annotations

import re

from corpusforge.core.document import Document
from corpusforge.stages.base import Filter, StageConfig
from corpusforge.stages.text.words import count_sentences

# TFDS c4_utils / datatrove c4_filters constants.
_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
ELLIPSIS = "..."
POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)


class C4Quality(Filter):
    """Removes C4's unwanted lines from each document and drops documents failing C4's page rules."""

    type = "c4"
    config: Config

    class Config(StageConfig):
        # Defaults: C4 (Raffel et al. 2020) section 2.2 and TFDS c4_utils, as in datatrove's C4QualityFilter.
        remove_citations: bool = True
        filter_no_terminal_punct: bool = True
        min_num_sentences: int = 5  # -1 disables
        min_words_per_line: int = 3  # -1 disables
        max_word_length: int = 1000  # -1 disables
        filter_lorem_ipsum: bool = True
        filter_javascript: bool = True
        filter_curly_bracket: bool = True
        filter_policy: bool = True

    def reject(self, doc: Document) -> str | None:
        """Remove C4's unwanted lines from `doc.text` in place; return a drop reason or None."""
        c = self.config
        min_sentences = c.min_num_sentences
        num_sentences = 0
        kept: list[str] = []
        removed = {"too_long_word": 0, "no_terminal_punct": 0, "too_few_words": 0, "javascript": 0, "policy": 0}
        for line in doc.text.splitlines():
            line = line.strip()
            words = line.split()
            if c.max_word_length != -1 and words and max(map(len, words)) > c.max_word_length:
                removed["too_long_word"] += 1
                continue
            if c.remove_citations and "[" in line:
                line = _CITATION.sub("", line)
            if c.filter_no_terminal_punct and (not line.endswith(END_PUNCTUATION) or line.endswith(ELLIPSIS)):
                removed["no_terminal_punct"] += 1
                continue
            if len(words) < c.min_words_per_line:
                removed["too_few_words"] += 1
                continue
            line_l = line.lower()
            if c.filter_lorem_ipsum and "lorem ipsum" in line_l:
                return "c4_lorem_ipsum"
            if c.filter_javascript and "javascript" in line_l:
                removed["javascript"] += 1
                continue
            if c.filter_curly_bracket and "{" in line:
                return "c4_curly_bracket"
            if c.filter_policy and any(p in line_l for p in POLICY_SUBSTRINGS):
                removed["policy"] += 1
                continue
            # Only the threshold matters, so stop counting once it is reached.
            if min_sentences != -1 and num_sentences < min_sentences:
                num_sentences += count_sentences(line)
            kept.append(line)
        for key, n in removed.items():
            if n:
                self.ledger.count(f"lines_removed_{key}", n)
        if num_sentences < min_sentences:
            return "c4_too_few_sentences"
        doc.text = "\n".join(kept).strip()
        return None
