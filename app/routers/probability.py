"""POST /probability: how likely the next word(s) are, or a whole sentence."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Body, Response

from app.deps import ServiceDep, SettingsDep
from app.routers.common import at_most_chars, finite, log_prob, timed
from app.schemas import (
    MODEL_RESPONSES,
    PROBABILITY_EXAMPLES,
    NextWordsProbability,
    ProbabilityRequest,
    SentenceProbability,
    TokenPart,
)
from models.completion import CompletionEngine, TextScore

router = APIRouter(tags=["probability"])

DESCRIPTION = """All log-probabilities are natural logs (ln).

With `next`: P(`next` followed by a word boundary | `text`), `text` read as whole words;
`next` may hold several words.

Without `next`: ln P(`text` as a complete sentence, end of sentence included), with the
per-token parts (`tokens`, ln each), `bits_per_char` (−log2 P over characters + 1) and the
per-token `perplexity`. `text` may be empty (the empty sentence)."""


def _next_words(engine: CompletionEngine, text: str, next_words: str) -> float:
    return engine.word_logprob(text, next_words)


def _sentence(engine: CompletionEngine, text: str) -> TextScore:
    return engine.score(text)


@router.post("/probability", response_model=NextWordsProbability | SentenceProbability,
             summary="Probability of the next word(s) or of a sentence (natural log)",
             description=DESCRIPTION, responses=MODEL_RESPONSES)
async def probability(
    body: Annotated[ProbabilityRequest, Body(openapi_examples=PROBABILITY_EXAMPLES)],
    service: ServiceDep, settings: SettingsDep, response: Response,
) -> NextWordsProbability | SentenceProbability:
    at_most_chars(("body", "text"), body.text, settings.max_text_chars)
    at_most_chars(("body", "next"), body.next, min(settings.max_next_chars,
                                                     settings.max_text_chars))
    if body.next is not None:
        answer = await service.run("/probability", _next_words, body.text, body.next)
        lp = log_prob(answer.value)
        return NextWordsProbability(probability=math.exp(lp), log_prob=lp, model=answer.model,
                                    took_ms=timed(response, answer))
    scored = await service.run("/probability", _sentence, body.text)
    s: TextScore = scored.value
    lp = log_prob(s.log_prob)
    return SentenceProbability(
        log_prob=lp, probability=math.exp(lp),
        tokens=[TokenPart(piece=p, log_prob=log_prob(v)) for p, v in s.tokens],
        bits_per_char=finite(s.bits_per_char), perplexity=finite(s.perplexity), chars=s.chars,
        model=scored.model, took_ms=timed(response, scored))
