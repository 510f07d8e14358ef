"""GET /suggest and /opensearch.xml: completions in the format that browsers' search boxes
(OpenSearch suggestions) and autocomplete widgets read as they are, a plain JSON array.

    GET /suggest?q=나는 밥을 머  ->  ["나는 밥을 머", ["나는 밥을 먹었다", "나는 밥을 먹고", ...]]

Each suggestion is the whole query with the completion applied (the word being typed
replaced), so a client can put it in the box as it is. The answer is GET /complete's (the
same service, limits and fallback to the n-gram); only its shape differs.
"""

from __future__ import annotations

import re
from typing import Annotated
from xml.sax.saxutils import quoteattr

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from app.deps import ServiceDep, SettingsDep
from app.errors import field_error
from app.routers.common import at_most_chars
from app.routers.complete import CompletionQueryDep, _answer
from app.routers.personal import UsersDep
from app.schemas import (
    A_WORD,
    MODEL_RESPONSES,
)
from models.completion import split_text

router = APIRouter(tags=["completion"])

SUGGESTIONS_TYPE = "application/x-suggestions+json"
OPENSEARCH_TYPE = "application/opensearchdescription+xml"

DESCRIPTION = f"""OpenSearch suggestions (`{SUGGESTIONS_TYPE}`): `[q, [suggestion, ...]]`, best
first, each suggestion being `q` with the word being typed completed (or, when `q` ends in a
space, the next word added), ready to replace the text of a search box:
`["나는 밥을 머", ["나는 밥을 먹었다", ...]]`. A browser finds it through `/opensearch.xml`
(linked from the demo page); typeahead.js or jQuery UI read the second element.

The completions are those of GET /complete (`k`, `max_words`, the same fallback to the
n-gram, the same readings: `ㅅㄱ` suggests `사과`, and `dkssud` `안녕`, the whole query in Hangul
when it was typed in English mode); `q` must hold a character that is not a space, and at most
AUTOCOMPLETE_MAX_TEXT_CHARS characters (10,000 by default)."""


class SuggestionsResponse(JSONResponse):
    """JSON under the media type OpenSearch gives suggestions."""

    media_type = SUGGESTIONS_TYPE


# [q, [suggestion, ...]]. Written out: a tuple's prefixItems is OpenAPI 3.1 that some tools
# (schemathesis 4.32) still reject.
SUGGESTIONS_SCHEMA = {
    "type": "array", "minItems": 2, "maxItems": 2,
    "items": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "description": "the query, then the suggestions (the query completed), best first",
    "examples": [["나는 밥을 머", ["나는 밥을 먹었다", "나는 밥을 먹고"]]]}

# The refusals are the JSON objects of every other endpoint: documented as such, since the
# route's own media type (response_class) would otherwise be given to them too.
REFUSALS = {code: {**{k: v for k, v in r.items() if k != "model"},
                   "content": {"application/json": {"schema": r["model"].model_json_schema()}}}
            for code, r in MODEL_RESPONSES.items()}
RESPONSES = {200: {"content": {SUGGESTIONS_TYPE: {"schema": SUGGESTIONS_SCHEMA}}}, **REFUSALS}


@router.get("/suggest", response_model=None, response_class=SuggestionsResponse,
            responses=RESPONSES,
            summary="Suggestions for a search box (OpenSearch JSON)", description=DESCRIPTION)
async def suggest(
    service: ServiceDep, settings: SettingsDep, users: UsersDep, response: Response,
    query: CompletionQueryDep,
    q: Annotated[str, Query(min_length=1, description="what the user has typed so far",
                            examples=["나는 밥을 머", "I really liked the mo"],
                            json_schema_extra={"pattern": A_WORD})],
) -> tuple[str, list[str]]:
    at_most_chars(("query", "q"), q, settings.max_text_chars)
    if not re.search(A_WORD, q):
        raise field_error(("query", "q"), "q has nothing but spaces: type a word first",
                          "string_pattern_mismatch")
    reply = await _answer(service, settings, response, "query", q, query.k, query.max_words,
                          cacheable=True, readings=query.readings(settings), users=users,
                          user=query.user)
    context = split_text(q)[0]  # or as it was read (typed in English mode, read as Hangul)
    return q, [(context if c.context is None else c.context) + c.text
               for c in reply.completions]


OPENSEARCH = """<?xml version="1.0" encoding="UTF-8"?>
<OpenSearchDescription xmlns="http://a9.com/-/spec/opensearch/1.1/">
  <ShortName>autocomplete</ShortName>
  <Description>Korean-first word autocompletion (자동완성)</Description>
  <InputEncoding>UTF-8</InputEncoding>
  <Url type="{suggestions_type}" method="get" template={suggest}/>
  <Url type="text/html" method="get" template={page}/>
  <Url type="{opensearch_type}" rel="self" template={itself}/>
</OpenSearchDescription>
"""


@router.get("/opensearch.xml", include_in_schema=False)
async def opensearch(request: Request) -> Response:
    """The OpenSearch description: suggestions from /suggest on this very server (its base
    URL as the request reached it), searches on the demo page."""
    base = str(request.base_url).rstrip("/")
    document = OPENSEARCH.format(
        suggestions_type=SUGGESTIONS_TYPE, opensearch_type=OPENSEARCH_TYPE,
        suggest=quoteattr(base + "/suggest?q={searchTerms}"),
        page=quoteattr(base + "/?q={searchTerms}"), itself=quoteattr(base + "/opensearch.xml"))
    return Response(document, media_type=OPENSEARCH_TYPE, headers={"Cache-Control": "no-cache"})
