"""What a directory serves, decided from its manifest (models/families.py), and load_model
choosing it when no family is named."""

from __future__ import annotations

import pytest

from models.families import NEURAL_FAMILIES, served_family
from models.loading import load_model


def manifest(family: str | None = None, neural_bpc: float = 3.5,
             mixture_bpc: float | None = None) -> dict:
    models: dict = {"ngram": {"dir": "ngram"}}
    if family:
        models[family] = {"dir": family}
        if mixture_bpc is not None:
            models[family]["interpolation"] = {"weight": 0.7, "valid": {
                "neural_bpc": neural_bpc, "mixture_bpc": mixture_bpc}}
    return {"models": models}


@pytest.mark.parametrize("family", NEURAL_FAMILIES)
def test_the_neural_family_is_served_interpolated_only_where_that_measured_better(family):
    assert served_family(manifest()) == "ngram"
    assert served_family(manifest(family)) == family
    assert served_family(manifest(family, mixture_bpc=3.4)) == f"{family}+ngram"
    assert served_family(manifest(family, mixture_bpc=3.5)) == family  # not better: alone


def test_load_model_without_a_family_loads_the_served_one(model_dir, rnn_model_dir):
    assert load_model(model_dir, None).family == "ngram"
    assert load_model(rnn_model_dir, None).family == served_family(
        load_model(rnn_model_dir, "ngram").manifest) == "lstm"
