"""POST /learn and DELETE /users/{user}: what a user teaches the service, and forgetting it.

/complete (and /suggest) with ``user`` mix in what that user taught (models/personal.py);
the texts live in the user store (app/users.py) that every replica shares.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import JSONResponse, Response

from app.deps import SettingsDep
from app.routers.common import at_most_chars
from app.schemas import LEARN_EXAMPLES, MODEL_RESPONSES, USER_ID, ErrorDetail, LearnRequest
from app.users import StoreUnavailable, Users

router = APIRouter(tags=["personal"])


def _users(request: Request) -> Users:
    return request.app.state.users


UsersDep = Annotated[Users, Depends(_users)]

STORE_DOWN = {400: MODEL_RESPONSES[400], 413: MODEL_RESPONSES[413],
              503: {"model": ErrorDetail, "headers": MODEL_RESPONSES[503]["headers"],
                    "description": "the user store is unavailable: nothing changed, retry "
                                   "after Retry-After seconds"}}

LEARN = """The text becomes part of what the service knows of `user`: from the next
keystroke on, /complete and /suggest with that `user` rank what the user writes higher (on
every replica: the text is kept in the user store). A user's newest
AUTOCOMPLETE_USER_MAX_TEXTS sentences (200) and AUTOCOMPLETE_USER_MAX_CHARS characters (10,000)
are kept, the oldest forgotten first, each for AUTOCOMPLETE_USER_TTL_S (30 days). The text is
never logged nor sent back. 503 if the store is unavailable (nothing was learned)."""

FORGET = """Everything learned for `user` is deleted from the store and from this replica at
once; other replicas drop their copy at the user's next request, or after
AUTOCOMPLETE_USER_CACHE_S idle. Afterwards the user's answers are everyone's. 204 whether or
not anything was learned; 503 if the store is unavailable (nothing was deleted: retry)."""


def _store_down(settings: SettingsDep, what: str) -> JSONResponse:
    return JSONResponse({"detail": f"the user store is unavailable: {what}; try again later"},
                        status_code=503, headers={"Retry-After": str(settings.retry_after_s)})


@router.post("/learn", status_code=204, summary="Learn from a sentence a user typed",
             description=LEARN, responses=STORE_DOWN)
async def learn(body: Annotated[LearnRequest, Body(openapi_examples=LEARN_EXAMPLES)],
                users: UsersDep, settings: SettingsDep) -> Response:
    at_most_chars(("body", "text"), body.text, settings.learn_max_chars)
    try:
        await users.learn(body.user, body.text)
    except StoreUnavailable:
        return _store_down(settings, "nothing was learned")
    return Response(status_code=204)


@router.delete("/users/{user}", status_code=204, summary="Forget everything a user taught",
               description=FORGET, responses=STORE_DOWN)
async def forget(user: Annotated[str, Path(pattern=USER_ID, description="the user's id")],
                 users: UsersDep, settings: SettingsDep) -> Response:
    try:
        await users.forget(user)
    except StoreUnavailable:
        return _store_down(settings, "nothing was deleted")
    return Response(status_code=204)
