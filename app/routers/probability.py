"""POST /probability: how likely the next word(s) are, or a whole sentence."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Body, Response

from app.deps import ServiceDep, SettingsDep
from app.routers.common import at_most_chars, finite, log_prob, refuse_if_over, timed
from app.schemas import (
    MODEL_RESPONSES,
    PROBABILITY_EXAMPLES,
    NextWordsProbability,
    ProbabilityRequest,
    SentenceProbability,
    TokenPart,
)
from models.batching import Search
from models.completion import CompletionEngine, TextScore
from models.limits import TokenLimits, TooManyTokens, check_probability

router = APIRouter(tags=["probability"])

DESCRIPTION = """All log-probabilities are natural logs (ln).

With `next`: P(`next` followed by a word boundary | `text`), `text` read as whole words;
`next` may hold several words.

Without `next`: ln P(`text` as a complete sentence, end of sentence included), with the
per-token parts (`tokens`, ln each), `bits_per_char` (−log2 P over characters + 1) and the
per-token `perplexity`. `text` may be empty (the empty sentence)."""


# A request over the token limits is handed back as a refusal, not raised: the service
# would take an exception for a model failure and ask the n-gram. It is a 422 below.
_WHERE = {"context": ("body", "text"), "text": ("body", "text"), "next": ("body", "next")}


def _next_words(engine: CompletionEngine, text: str, next_words: str,
                limits: TokenLimits) -> Search | TooManyTokens:
    try:
        check_probability(engine, text, next_words, limits)
    except TooManyTokens as e:
        return e
    return engine.search_word_logprob(text, next_words)  # batched across requests


def _sentence(engine: CompletionEngine, text: str,
              limits: TokenLimits) -> TextScore | TooManyTokens:
    try:
        check_probability(engine, text, None, limits)
    except TooManyTokens as e:
        return e
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
        answer = await service.run("/probability", _next_words, body.text, body.next,
                                   settings.token_limits())
        refuse_if_over(answer.value, _WHERE)
        lp = log_prob(answer.value)
        return NextWordsProbability(probability=math.exp(lp), log_prob=lp, model=answer.model,
                                    took_ms=timed(response, answer, settings))
    scored = await service.run("/probability", _sentence, body.text, settings.token_limits(),
                               scoring=True)
    refuse_if_over(scored.value, _WHERE)
    s: TextScore = scored.value
    lp = log_prob(s.log_prob)
    return SentenceProbability(
        log_prob=lp, probability=math.exp(lp),
        tokens=[TokenPart(piece=p, log_prob=log_prob(v)) for p, v in s.tokens],
        bits_per_char=finite(s.bits_per_char), perplexity=finite(s.perplexity), chars=s.chars,
        model=scored.model, took_ms=timed(response, scored, settings))
