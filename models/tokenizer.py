"""SentencePiece tokenizer that gives back exactly what was typed.

Normalisation is the identity (NFKC would turn the compatibility jamo ㅋ into
the conjoining ᄏ), extra whitespace is kept, and byte fallback means that no
character is ever out of vocabulary. A piece that begins with ``▁`` starts a
word; that is how the completion engine finds word boundaries.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sentencepiece as spm

from models.threads import usable_cpus

WORD_START = "\u2581"  # ▁
BOS_ID, EOS_ID, UNK_ID = 1, 2, 0


def default_vocab_size(num_chars: int) -> int:
    """8,000 pieces for a large corpus, fewer for a small one (SentencePiece needs
    enough text per piece, or it refuses to train)."""
    if num_chars >= 5_000_000:
        return 8000
    return int(min(8000, max(300, num_chars // 60)))


@dataclass(frozen=True)
class TokenizerConfig:
    """What ``train_tokenizer`` was asked for; stored in the manifest."""

    vocab_size: int
    model_type: str = "unigram"
    character_coverage: float = 0.9995
    input_sentence_size: int = 2_000_000


def train_tokenizer(lines: Iterable[str], out_path: Path, config: TokenizerConfig) -> Tokenizer:
    """Train a SentencePiece model on ``lines`` and write it to ``out_path``.

    The vocabulary shrinks automatically when the corpus is too small for the
    requested size (SentencePiece would stop with "Vocabulary size too high").
    """
    model = io.BytesIO()
    size = config.vocab_size
    sentences = [line for line in lines if line.strip()]
    for _ in range(20):
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences),
                model_writer=model,
                vocab_size=size,
                model_type=config.model_type,
                character_coverage=config.character_coverage,
                input_sentence_size=config.input_sentence_size,
                shuffle_input_sentence=True,
                byte_fallback=True,
                normalization_rule_name="identity",
                remove_extra_whitespaces=False,
                split_digits=True,
                unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID, pad_id=-1,
                max_sentence_length=1 << 16,
                num_threads=usable_cpus(),
                minloglevel=2,
            )
            break
        except RuntimeError as e:
            size = _adjusted_size(str(e), size)
            model = io.BytesIO()
    else:
        raise RuntimeError(f"SentencePiece found no vocabulary size that fits ({size})")
    out_path.write_bytes(model.getvalue())
    return Tokenizer(out_path)


def _adjusted_size(error: str, size: int) -> int:
    """A vocabulary size SentencePiece will accept after ``error``, or re-raise it."""
    need = re.search(r"smaller than required_chars\. \d+ vs (\d+)", error)
    if need:  # every character seen must have a piece of its own
        return int(need.group(1)) + 64
    most = re.search(r"Vocabulary size too high.*<= (\d+)", error)
    if most:
        return int(most.group(1))
    raise RuntimeError(error)


class Tokenizer:
    """A trained SentencePiece model with the views the completion engine needs."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.sp = spm.SentencePieceProcessor(model_file=str(self.path))
        self.vocab_size: int = self.sp.get_piece_size()
        self.bos_id, self.eos_id = self.sp.bos_id(), self.sp.eos_id()
        # Text of each piece with the word marker taken off; byte and control
        # pieces have none (the completion engine never proposes them).
        self.piece_text: list[str | None] = []
        self.starts_word: list[bool] = []
        for i in range(self.vocab_size):
            piece = self.sp.id_to_piece(i)
            special = self.sp.is_byte(i) or self.sp.is_control(i) or self.sp.is_unknown(i)
            self.starts_word.append(piece.startswith(WORD_START))
            self.piece_text.append(None if special else piece.lstrip(WORD_START))

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no sentence markers)."""
        return self.sp.encode(text)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """Token ids of many texts at once (multithreaded inside SentencePiece)."""
        return self.sp.encode(texts, num_threads=usable_cpus())

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``; the exact inverse of ``encode``."""
        return self.sp.decode(list(ids))

    def pieces(self, text: str) -> list[str]:
        """The pieces of ``text``, for display and debugging."""
        return self.sp.encode(text, out_type=str)

    def id_to_piece(self, i: int) -> str:
        """The piece string of token ``i``."""
        return self.sp.id_to_piece(i)


def read_lines(path: Path | str) -> Iterator[str]:
    """Non-blank lines of a UTF-8 text file, without their newline, streamed."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n").rstrip("\r")
            if line.strip():
                yield line
