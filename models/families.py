"""The model families a directory may hold, and the one the service serves, decided from
the manifest alone: torch-free, so that the n-gram, the scripts and the service's choice
start without importing torch.

    manifest["models"] ─► served_family ─► "gru+ngram" (interpolated: it measured better)
                                         | "gru"       (a neural family alone)
                                         | "ngram"     (no neural model)
"""

from __future__ import annotations

from typing import Any

NGRAM = "ngram"
# the neural families, each built by models/neural.py: recurrent (lstm, gru, rnn) or a
# fixed window of previous tokens (window)
NEURAL_FAMILIES = ("lstm", "gru", "rnn", "window")


def served_family(manifest: dict[str, Any]) -> str:
    """What the service serves from a directory: its neural model, interpolated with the
    n-gram (``lstm+ngram``) where that measured better on the validation text; the n-gram
    where it holds no neural model."""
    models = manifest.get("models", {})
    for family in NEURAL_FAMILIES:
        if family in models:
            mix = models[family].get("interpolation")
            if mix and mix["valid"]["mixture_bpc"] < mix["valid"]["neural_bpc"]:
                return f"{family}+{NGRAM}"
            return family
    return NGRAM
