"""POST and GET /complete: the words (or phrases) that complete what was typed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Response

from app.deps import ServiceDep, SettingsDep
from app.routers.common import in_range, log_prob, refuse_if_over, timed
from app.routers.personal import UsersDep
from app.schemas import (
    COMPLETE_EXAMPLES,
    INITIALS_DOC,
    K_DEFAULT,
    LAYOUT_DOC,
    MAX_WORDS_DEFAULT,
    MODEL_RESPONSES,
    TEXT_DOC,
    TYPO_DOC,
    USER_DOC,
    USER_ID,
    CompleteRequest,
    CompleteResponse,
    CompletionItem,
)
from app.service import ModelService
from app.settings import Settings
from app.users import Users
from models.batching import Search
from models.completion import CompletionEngine, split_text
from models.limits import TokenLimits, TooManyTokens, completion_admitted
from models.personal import Adapter
from models.readings import Readings

router = APIRouter(tags=["completion"])

DESCRIPTION = """The `k` most likely whole words that complete `text`, best first.

If `text` is empty or ends in whitespace, the next word is predicted and `prefix` is `""`.
Otherwise the part after the last whitespace is the word being typed (`prefix`) and each
completion replaces it; Hangul is matched by keystroke, so `재미` and the half-typed `재ㅁ`
both find `재미있게`. `probability` is P(word followed by a word boundary | text);
`log_prob` is its natural log (ln). Long texts are fine: only the end of the context is read.
`model` names the model that answered (the n-gram answers when the neural model fails or
is late). `Server-Timing` carries the model time.

What is typed is also read the ways Korean is often typed, each completion saying how it
matched (`match`): initial consonants (`ㅅㄱ` → `사과`, while `ㅋㅋ` still finds `ㅋㅋㅋ`), Latin
letters typed in English mode (`dkssud` → `안녕`, the context too: then each completion's
`context` holds it in Hangul), one key wrong (`먹엇다` → `먹었다`: Shift missed, or the key next
to it hit). The probability of a completion of another reading is discounted by a penalty
(how likely such a mistake is), so what was typed exactly stays first when it is likely;
`initials`, `layout` and `typo` turn each off (defaults: the AUTOCOMPLETE_READ_* settings).

With `user`, what that user taught through POST /learn is mixed in (`Server-Timing` says
`user;desc="personal"`, or `"anonymous"` when nothing was); such an answer is never cached.
Without it, or with nothing learned, or while the user store is away, the answer is
everyone's."""


@dataclass(frozen=True)
class CompletionQuery:
    """The query parameters GET /complete and GET /suggest share (all but ``q``, whose
    rules differ), read by one dependency so that the two stay alike."""

    k: int | None
    max_words: int | None
    initials: bool | None
    layout: bool | None
    typo: bool | None
    user: str | None

    def readings(self, settings: Settings) -> Readings:
        return settings.readings(self.initials, self.layout, self.typo)


def _completion_query(
    k: Annotated[int | None, Query(ge=1, description=f"default {K_DEFAULT}")] = None,
    max_words: Annotated[int | None, Query(ge=1, description="default 1")] = None,
    initials: Annotated[bool | None, Query(description=INITIALS_DOC)] = None,
    layout: Annotated[bool | None, Query(description=LAYOUT_DOC)] = None,
    typo: Annotated[bool | None, Query(description=TYPO_DOC)] = None,
    user: Annotated[str | None, Query(pattern=USER_ID, description=USER_DOC)] = None,
) -> CompletionQuery:
    return CompletionQuery(k, max_words, initials, layout, typo, user)


CompletionQueryDep = Annotated[CompletionQuery, Depends(_completion_query)]


def _complete(engine: CompletionEngine, text: str, k: int, max_words: int,
              limits: TokenLimits, readings: Readings,
              personal: Callable[[CompletionEngine], Adapter | None] | None = None
              ) -> Search | list | TooManyTokens:
    try:
        if not completion_admitted(engine, text, limits):
            return []  # a word longer than any the model completes: no search, no cache
    except TooManyTokens as e:
        return e  # a refusal, not a model failure (no fallback): raised as a 422 below
    adapt = personal(engine) if personal is not None else None  # the user's model, if any
    return engine.search_complete(text, k=k, max_words=max_words,  # batched across requests
                                  readings=readings, adapt=adapt)


async def _answer(service: ModelService, settings: Settings, response: Response, where: str,
                  text: str, k: int | None, max_words: int | None,
                  cacheable: bool = False, readings: Readings | None = None,
                  users: Users | None = None, user: str | None = None) -> CompleteResponse:
    k = in_range((where, "k"), k, K_DEFAULT, settings.k_max)
    max_words = in_range((where, "max_words"), max_words, MAX_WORDS_DEFAULT,
                         settings.max_words_max)
    # what the user taught (None: nothing, or the store is away: everyone's answers)
    learned = await users.read(user) if users is not None and user is not None else None
    answer = await service.run("/complete", _complete, text, k, max_words,
                               settings.token_limits(), readings or settings.readings(),
                               partial(users.adapter, learned) if learned else None)
    refuse_if_over(answer.value, {"context": (where, "text" if where == "body" else "q")})
    took_ms = timed(response, answer, settings)
    if user is not None:  # whether the user's model was mixed in
        response.headers["Server-Timing"] += (', user;desc="personal"' if learned else
                                              ', user;desc="anonymous"')
    if cacheable or user is not None:  # a fallback's or a user's answer is not to keep
        response.headers["Cache-Control"] = (
            "private, no-store" if user is not None else "no-store" if answer.fallback
            else f"public, max-age={settings.cache_max_age}")
    return CompleteResponse(
        completions=[CompletionItem(text=c.text, probability=min(c.probability, 1.0),
                                    log_prob=log_prob(c.log_prob), match=c.match,
                                    context=c.context) for c in answer.value],
        prefix=split_text(text)[1], model=answer.model, took_ms=took_ms)


@router.post("/complete", response_model=CompleteResponse, summary="Complete what was typed",
             description=DESCRIPTION, responses=MODEL_RESPONSES)
async def complete(body: Annotated[CompleteRequest, Body(openapi_examples=COMPLETE_EXAMPLES)],
                   service: ServiceDep, settings: SettingsDep, users: UsersDep,
                   response: Response) -> CompleteResponse:
    return await _answer(service, settings, response, "body", body.text, body.k, body.max_words,
                         readings=settings.readings(body.initials, body.layout, body.typo),
                         users=users, user=body.user)


@router.get("/complete", response_model=CompleteResponse, responses=MODEL_RESPONSES,
            summary="Complete what was typed (cacheable GET)",
            description=DESCRIPTION + "\n\nThe same as POST, with `text` as `q`; the answer may "
                                      "be cached (`Cache-Control`), unless a fallback gave it.")
async def complete_get(
    service: ServiceDep, settings: SettingsDep, users: UsersDep, response: Response,
    query: CompletionQueryDep,
    q: Annotated[str, Query(description=TEXT_DOC,
                            examples=["영화 너무 재미", "this movie is "])] = "",
) -> CompleteResponse:
    return await _answer(service, settings, response, "query", q, query.k, query.max_words,
                         cacheable=True, readings=query.readings(settings), users=users,
                         user=query.user)
