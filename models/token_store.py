"""The training text as token ids, and how it is cut into batches.

Every sentence is its own sequence, as it is scored at evaluation (each line from
<s>, ending with </s>), so the hidden state never leaks from one review into the
next. Sentences of similar length are batched together up to ``batch_tokens``
tokens, padded at the end; padding is never a target::

    input   <s>  나   는   밥  ...  다   pad pad
    target  나   는   밥   ... 다   </s> pad pad     (pad ignored in the loss)

The token stream is kept as one int32 array plus sentence offsets, written to
the checkpoint folder and memory-mapped, so a corpus larger than memory only
costs disk.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from models.neural import NeuralConfig

PAD = 0  # <unk>: never a target in practice, and masked out anyway


class TokenStore:
    """Sentences of token ids as one flat int32 array and offsets, memory-mapped."""

    def __init__(self, directory: Path):
        self.tokens = np.load(directory / "tokens.npy", mmap_mode="r", allow_pickle=False)
        self.offsets = np.load(directory / "offsets.npy", allow_pickle=False)

    @staticmethod
    def write(sentences: Iterable[Sequence[int]], directory: Path) -> TokenStore:
        """Stream sentences to ``tokens.npy`` / ``offsets.npy`` in ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        raw = directory / "tokens.bin"
        offsets = [0]
        with open(raw, "wb") as f:
            for ids in sentences:
                f.write(np.asarray(ids, dtype=np.int32).tobytes())
                offsets.append(offsets[-1] + len(ids))
        flat = np.fromfile(raw, dtype=np.int32)
        np.save(directory / "tokens.npy", flat, allow_pickle=False)
        np.save(directory / "offsets.npy", np.asarray(offsets, dtype=np.int64),
                allow_pickle=False)
        raw.unlink()
        return TokenStore(directory)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def sentence(self, i: int) -> np.ndarray:
        """Token ids of sentence ``i``."""
        return self.tokens[self.offsets[i]: self.offsets[i + 1]]

    def num_tokens(self) -> int:
        """Tokens to predict: every piece plus one </s> per sentence."""
        return int(self.offsets[-1]) + len(self)


def make_batches(store: TokenStore, batch_tokens: int, max_len: int,
                 rng: np.random.Generator) -> list[np.ndarray]:
    """Sentence indices grouped by similar length, in a shuffled order."""
    lengths = np.minimum(np.diff(store.offsets), max_len) + 1
    order = rng.permutation(len(store))
    # sort within large shuffled chunks: similar lengths together, still random overall
    chunk = max(1, 100 * batch_tokens // int(lengths.mean()))
    batches = []
    for s in range(0, len(order), chunk):
        part = order[s:s + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        start = 0
        while start < len(part):
            longest, end = 0, start
            while end < len(part) and max(longest, lengths[part[end]]) * (end - start + 1) \
                    <= batch_tokens:
                longest = max(longest, lengths[part[end]])
                end += 1
            end = max(end, start + 1)
            batches.append(part[start:end])
            start = end
    rng.shuffle(batches)
    return batches


def collate(store: TokenStore, idx: Sequence[int], cfg: NeuralConfig,
            max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) for a batch of sentences; pad targets are -100."""
    lead = cfg.window if cfg.arch == "window" else 1
    sents = [store.sentence(i)[:max_len] for i in idx]
    width = max(len(s) for s in sents) + 1
    x = np.full((len(sents), width + lead - 1), PAD, dtype=np.int64)
    y = np.full((len(sents), width), -100, dtype=np.int64)
    for b, s in enumerate(sents):
        x[b, :lead] = cfg.bos_id
        x[b, lead:lead + len(s)] = s
        y[b, :len(s)] = s
        y[b, len(s)] = cfg.eos_id
    return torch.from_numpy(x), torch.from_numpy(y)
