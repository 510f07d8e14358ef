"""Personal adaptation (models/personal.py): a user's own words rise, the mixture is still a
distribution, forgetting is exact, and searches with a user batch with everyone else's."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from models.batching import StepScheduler
from models.completion import CompletionEngine
from models.personal import (
    PersonalConfig,
    PersonalModel,
    PersonalModels,
    PersonalRows,
    adapter,
)

# A user who keeps writing about one film: names the sample corpus never saw.
KOREAN = ["마코토 성우 최고 나오는 편이 제일 좋음", "마코토 성우 바뀐거 실망임ㅠㅠ",
          "마코토 성우 액션은 최고ㅋㅋ", "공각기동대 마코토 다시 보고싶다"]
ENGLISH = ["Motoko Kusanagi is the best major", "Kusanagi Motoko saves the movie",
           "I watched Motoko again tonight"]


def gate(scheduler: StepScheduler) -> threading.Event:
    """Hold the model thread until the returned event is set."""
    held, release = threading.Event(), threading.Event()
    scheduler.submit(lambda: (held.set(), release.wait(30)))
    assert held.wait(30)
    return release


def texts(completions):
    return [c.text for c in completions]


def taught(engine: CompletionEngine, sentences: list[str],
           config: PersonalConfig | None = None) -> PersonalModel:
    model = PersonalModel(engine.tok.bos_id, engine.tok.eos_id, config, engine.tok.vocab_size)
    for j, s in enumerate(sentences):
        model.add(f"k{j}", engine.tok.encode(s))
    return model


@pytest.mark.parametrize("typed, word", [
    ("마", "마코토"), ("마ㅋ", "마코토"), ("어제본영화 마코", "마코토"),  # half-typed, no spaces
    ("마코토 ", "성우"), ("공각기동대 ", "마코토"),  # the user's next word
    ("I love Mo", "Motoko"), ("Kusanagi ", "Motoko")])
def test_learned_words_rise_in_the_ranking(engine, typed, word):
    model = taught(engine, KOREAN + ENGLISH)
    anonymous = texts(engine.complete(typed, k=5))
    personal = texts(engine.complete(typed, k=5, adapt=adapter(model, engine.tok.starts_word)))
    assert word in personal[:2], (typed, personal)
    assert anonymous.index(word) > personal.index(word) if word in anonymous else True


def test_anonymous_answers_are_unchanged_and_no_adapter_is_no_change(engine):
    before = [(c.text, c.log_prob) for c in engine.complete("나는 밥을 머", k=5)]
    model = taught(engine, KOREAN)
    engine.complete("마", k=5, adapt=adapter(model, engine.tok.starts_word))  # a user between
    assert [(c.text, c.log_prob) for c in engine.complete("나는 밥을 머", k=5)] == before
    zero = taught(engine, KOREAN, PersonalConfig(4, (0.0, 0.0, 0.0, 0.0)))  # μ = 0: the model
    mixed = engine.complete("나는 밥을 머", k=5, adapt=adapter(zero, engine.tok.starts_word))
    assert [(c.text, c.log_prob) for c in mixed] == before


@pytest.mark.parametrize("history", [(), ("마코토",), ("마코토", "성우"), ("the", "best")])
def test_the_mixture_is_a_distribution_and_its_boundary_mass_adds_up(engine, history):
    model = taught(engine, KOREAN + ENGLISH)
    ids = tuple(i for w in history for i in engine.tok.encode(w))
    state = engine.state(ids)
    base = engine.lm.rows([state])
    rows = adapter(model, engine.tok.starts_word)(base, ids, [()])
    assert isinstance(rows, PersonalRows)
    every = np.arange(engine.tok.vocab_size)
    probs = np.exp(rows.take(0, every))
    assert probs.sum() == pytest.approx(1.0, abs=1e-6)
    boundary = engine._boundary
    assert math.exp(rows.logmass(boundary)[0]) == pytest.approx(probs[boundary.ids].sum(),
                                                                rel=1e-6)
    # pieces the user never wrote keep the model's ranking, scaled by 1 − μ
    unseen = np.setdiff1d(every, model.unigram()[0])
    shift = rows.take(0, unseen) - base.take(0, unseen)
    assert np.allclose(shift, shift[0]) and shift[0] < 0
    # an unsorted or listed read gives the same values
    some = [int(i) for i in engine.tok.encode("마코토 성우")][::-1]
    assert np.allclose(rows.take(0, some), rows.take(0, every)[some])


def test_the_user_model_is_witten_bell_and_sums_to_one():
    model = PersonalModel(1, 2, PersonalConfig(3, (0.1, 0.2, 0.3)), vocab_size=16)
    for j, ids in enumerate([(5, 6, 7), (5, 6, 8), (9, 6, 7)]):
        model.add(str(j), ids)
    pieces = model.unigram()[0]
    for history in [(1,), (1, 5), (5, 6), (6, 7), (3, 4)]:
        dist = model.history_dist(history)
        assert model.probs(dist, pieces).sum() == pytest.approx(1.0)
    # after "5 6" the user wrote 7 and 8 once each: both likelier than after nothing
    dist = model.history_dist((5, 6))
    p = dict(zip(pieces.tolist(), model.probs(dist, pieces), strict=True))
    assert p[7] > p[8] > p[9] and dist.k == 2 and dist.mu == 0.3
    assert model.history_dist((3, 4)).k == 0  # a context the user never wrote


def test_forgetting_a_sentence_is_exact(engine):
    both = taught(engine, KOREAN[:2])
    lengths = [len(engine.tok.encode(s)) + 1 for s in KOREAN[:2]]  # </s> counted, <s> not
    assert both.pieces == sum(lengths)
    both.remove("k0")
    alone = taught(engine, KOREAN[1:2])
    both.unigram()
    alone.unigram()
    for mine, theirs in zip(both._codes + both._counts, alone._codes + alone._counts,
                            strict=True):
        assert np.array_equal(mine, theirs)
    both.remove("k1")
    assert both.pieces == 0 and len(both) == 0 and not len(both.unigram()[0])


def test_sentences_older_than_the_expiry_are_forgotten(engine):
    model = PersonalModel(engine.tok.bos_id, engine.tok.eos_id)
    model.add("old", engine.tok.encode(KOREAN[0]), when=100.0)
    model.add("new", engine.tok.encode(ENGLISH[0]), when=200.0)
    assert model.forget_before(150.0) == 1 and list(model.entries) == ["new"]


def test_models_follow_the_store_revision_by_difference(engine):
    models = PersonalModels(engine.tok, max_users=2)
    first = models.sync("u1", "r1", [("a", 1.0, KOREAN[0]), ("b", 2.0, KOREAN[1])])
    assert first is not None and set(first.entries) == {"a", "b"}
    counted = first.version
    # the same revision: nothing read, nothing counted again
    assert models.sync("u1", "r1", []) is first and first.version == counted
    # a new revision: "a" trimmed by the store, "c" learned; the same model object
    again = models.sync("u1", "r2", [("b", 2.0, KOREAN[1]), ("c", 3.0, KOREAN[2])])
    assert again is first and list(again.entries) == ["b", "c"]
    # expired: nothing left, the user is anonymous
    assert models.sync("u1", "r2", [], oldest=10.0) is None
    # at most max_users held; drop forgets at once
    models.sync("u2", "r", [("x", 1.0, "hello")])
    models.sync("u3", "r", [("y", 1.0, "hello")])
    assert len(models) == 2 and "u1" not in models
    models.drop("u3")
    assert "u3" not in models


def test_config_is_checked():
    with pytest.raises(ValueError, match="weights"):
        PersonalConfig(3, (0.1, 0.2))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        PersonalConfig(1, (1.0,))


def test_personal_searches_batch_with_anonymous_ones(engine):
    """A user's search asks the model nothing of its own: through the scheduler, mixed with
    anonymous searches, every answer equals the one it gets alone."""
    model = taught(engine, KOREAN + ENGLISH)
    jobs = [("마", None), ("마", model), ("나는 밥을 머", None), ("공각기동대 ", model),
            ("I love Mo", model), ("this movie is ", None)]
    alone = [texts(engine.complete(t, k=5, adapt=adapter(m, engine.tok.starts_word) if m
                                   else None)) for t, m in jobs]
    fresh = CompletionEngine(engine.tok, engine.lm)  # an empty state cache
    scheduler = StepScheduler(fresh.lm, "test")
    try:
        release = gate(scheduler)  # every search starts in the same round
        futures = [scheduler.submit(lambda t=t, m=m: fresh.search_complete(
            t, 5, adapt=adapter(m, engine.tok.starts_word) if m else None)) for t, m in jobs]
        release.set()
        assert [texts(f.result(60)) for f in futures] == alone
    finally:
        scheduler.close()
    assert scheduler.figures.largest_round > 1  # they did share rounds
