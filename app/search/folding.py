"""Names folded to one spelling key, so that romanisation variants meet.

McCune-Reischauer writes Kaech'ŏn and Hamgyŏng where Revised Romanization writes Gaecheon and
Hamgyeong, and the press drops the diacritics and apostrophes (Kaechon, Hamgyong). Folding
removes diacritics and separators and maps the systems' differing letters onto one (ŏ and
eo to o, ŭ and eu to u, g/k, d/t, b/p, j/ch, r/l, sh/s); trigram similarity then absorbs what
is left (small typos, a dropped letter).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Whitespace, hyphens and dashes, apostrophes and their look-alikes, dots, commas.
_SEPARATORS = re.compile("[\\s\\-\u2010\u2011\u2013\u2014'`\u2019\u02bc\u02bb.,\u00b7]+")
# Applied in order: vowels first (eo, eu), then the consonant pairs.
_LETTER_PAIRS = (
    ("eo", "o"),
    ("eu", "u"),
    ("sh", "s"),
    ("j", "ch"),
    ("g", "k"),
    ("d", "t"),
    ("b", "p"),
    ("r", "l"),
)


def _without_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped)  # recomposes Hangul syllables


def fold_name(name: str) -> str:
    """One name as one folded token: 'Kaech'ŏn' and 'Gaecheon' both give 'kaechon'.
    Hangul is kept as written (without separators)."""
    folded = _SEPARATORS.sub("", _without_diacritics(name).lower())
    for written, key in _LETTER_PAIRS:
        folded = folded.replace(written, key)
    return folded


def folded_names(names: Iterable[str | None]) -> str | None:
    """Distinct folded names, space-separated (trigram matching treats each as a word)."""
    keys = dict.fromkeys(fold_name(n) for n in names if n)
    keys.pop("", None)
    return " ".join(keys) or None
