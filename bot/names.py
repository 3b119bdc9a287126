"""Settlement names as residents' matching folds them, shared by the flows and the domain.

Pure (the stdlib and `bot.content`), so `bot.flows` may import it: the settlement flow
matches a resident's text on these folds, and the settlements domain refuses a name or
alias that folds as another settlement's does, since no resident could tell the two apart.
"""

from __future__ import annotations

import re
from functools import lru_cache

from bot.content import normalise

# Written out, so that "Ext 7", "Ext. 7", "Ext7" and "Extension 7" are one name.
_ABBREVIATIONS = {"ext": "extension", "extn": "extension"}
# Words that many names carry and that tell none apart ("Masakhane Informal Settlement").
_GENERIC = frozenset({"informal", "settlement", "informele", "nedersetting"})
_RUNS = re.compile(r"[^\W\d_]+|\d+")


@lru_cache(maxsize=4096)  # every name is folded again for each resident's text
def fold(text: str) -> str:
    """Fold a name, or the resident's text, into the words that matching compares: folded
    (`normalise`), letters and digits apart ("Ext2"), abbreviations written out, and the
    words many names share left out, unless nothing else is left."""
    words = [_ABBREVIATIONS.get(run, run) for run in _RUNS.findall(normalise(text))]
    return " ".join([word for word in words if word not in _GENERIC] or words)


def same_name_key(name: str) -> str:
    """Return what matching takes a name to be, spaces aside ("Ubuhlegardens" is Ubuhle
    Gardens to it): two names with one key are one to a resident (empty: no name)."""
    return fold(name).replace(" ", "")
