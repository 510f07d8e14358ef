"""Bits per character, as every figure of the project counts them: −log2 P of each line as
a whole sentence (its pieces, then the end of sentence) over its characters, the end
counted as one more character::

    lines ─ sentence_ids (one: sentence) ─► each line's ids + [</s>]
          ─ a model's token_logprobs ─► ln P
    lines ─ sentence_chars ─► Σ (characters + 1)
    nats_to_bpc(−Σ ln P, Σ (characters + 1)) = −Σ ln P / ln 2 / Σ (characters + 1)

The evaluator, the scorer of the service, the neural model's validation and the tuning of
an interpolation all count this way, so their figures compare.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.tokenizer import Tokenizer


def sentence(tok: Tokenizer, text: str) -> list[int]:
    """The token ids of ``text`` followed by </s> (<s> is the models' start state)."""
    return [*tok.encode(text), tok.eos_id]


def sentence_ids(tok: Tokenizer, lines: list[str]) -> list[list[int]]:
    """``sentence`` of each line, encoded in one batch."""
    return [[*ids, tok.eos_id] for ids in tok.encode_batch(lines)]


def sentence_chars(lines: Iterable[str]) -> int:
    """The characters BPC divides by: each line's, plus one for its end."""
    return sum(len(x) + 1 for x in lines)


def nats_to_bpc(nats: float, chars: int) -> float:
    """``nats`` (−ln P, summed) as bits per character over ``chars``."""
    return nats / math.log(2) / chars
