"""Request and response bodies, with Korean and English examples for the OpenAPI page.

Probabilities are between 0 and 1; every ``log_prob`` is a natural log (ln).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, field_validator

from models.families import NEURAL_FAMILIES, NGRAM

K_DEFAULT, MAX_WORDS_DEFAULT = 5, 1

# A code point U+D800..U+DFFF left in a decoded string is a lone surrogate (JSON lets
# "\ud800" through; a pair is decoded to one character): not a character, no UTF-8 for it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# A character that is not whitespace by Python's str.split() nor by JSON Schema's (ECMA) \s:
# the same set under Python's re, ECMA-262 and Rust's regex (U+FEFF is space to ECMA only,
# U+001C..U+001F and U+0085 to Python only).
MODEL_DOC = (f"the model that answered: {', '.join(NEURAL_FAMILIES[:-1])} or "
             f"{NEURAL_FAMILIES[-1]}, alone or interpolated with the n-gram "
             f"({NEURAL_FAMILIES[1]}+{NGRAM}), or {NGRAM}")
A_WORD = r"[^\s\ufeff\x1c-\x1f\x85]"


def unicode_text(value: Any) -> Any:
    """``value`` unchanged, or a 422 if it is a string with a lone surrogate (no text the
    tokenizer could read nor the response could be written in)."""
    if isinstance(value, str) and (bad := _LONE_SURROGATE.search(value)):
        raise ValueError(f"lone surrogate U+{ord(bad.group()):04X} at character "
                         f"{bad.start()}: not valid Unicode text")
    return value


def _whole_number(value: Any) -> Any:
    """A JSON number with no fraction (3.0) is an integer to JSON Schema: take it as one.
    Strings and fractions stay errors (the field is strict)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


OptionalWholeNumber = Annotated[int | None, BeforeValidator(_whole_number)]

TEXT_DOC = ("What the user has typed so far. Empty, or ending in whitespace: the next word is "
            "predicted. Otherwise the part after the last whitespace is the word being typed; "
            "Hangul matches by keystroke, so a half-typed syllable (머) finds 먹었다. The "
            "context the model reads (the last 400 characters) may hold at most "
            "AUTOCOMPLETE_MAX_CONTEXT_TOKENS pieces, 600 by default (an emoji is four): "
            "422 beyond. A word longer than any the model completes gets no completion.")


# The other readings of what is typed (models/readings.py), each on unless turned off here
# or by its setting.
INITIALS_DOC = ("read two or more initial consonants also as the initials of a word's "
                "syllables: ㅅㄱ finds 사과, ㅇㅎ 영화 (ㅋㅋ still finds ㅋㅋㅋ). Default: "
                "AUTOCOMPLETE_READ_INITIALS (true)")
LAYOUT_DOC = ("read Latin letters typed in English mode also as the Hangul of their "
              "2-beolsik keys: dkssud finds 안녕, ajrdjT 먹었다 (movie stays English); a "
              "context all in such letters is read as Hangul when that is more likely. "
              "Default: AUTOCOMPLETE_READ_LAYOUT (true)")
TYPO_DOC = ("read a Hangul word with one key wrong (Shift missed, or the key next to it "
            "hit) also as the word meant: 먹엇다 and 먹었자 find 먹었다. Default: "
            "AUTOCOMPLETE_READ_TYPO (true)")
MATCH_DOC = ("how the completion matched what was typed: exact (the keys as typed), initials "
             "(ㅅㄱ → 사과), layout (dkssud → 안녕: Latin letters read as Hangul) or typo (one "
             "key wrong: 먹엇다 → 먹었다). For all but exact, probability is that of the word "
             "times the reading's penalty (how likely such a mistake is), which ranks it")

# A user id: letters, digits, '.', '_', '-', starting with a letter or digit, at most 64: it
# goes into store keys and URLs as it is. Make it random (a UUID): it is all that stands
# between a user's learned text and whoever knows the id (SECURITY.md).
USER_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
USER_DOC = ("who is typing (letters, digits, . _ -, at most 64, a random id such as a UUID): "
            "the answers are adapted to what this user taught through POST /learn. Absent, "
            "or nothing learned, or the user store away: the answers of everyone")

TOOK_MS_DOC = ("model time in milliseconds, rounded up to AUTOCOMPLETE_TIMING_RESOLUTION_MS "
               "(5 by default); 0 with AUTOCOMPLETE_EXPOSE_TIMING=false")


class CompleteRequest(BaseModel):
    """POST /complete."""

    text: str = Field(strict=True, description=TEXT_DOC)
    k: OptionalWholeNumber = Field(
        None, strict=True, ge=1, description=f"how many completions (default {K_DEFAULT}, at "
                                             "most AUTOCOMPLETE_K_MAX, 20 by default)")
    max_words: OptionalWholeNumber = Field(
        None, strict=True, ge=1, description="longest phrase offered, in words (default 1, at "
                                             "most AUTOCOMPLETE_MAX_WORDS_MAX, 3 by default)")
    initials: bool | None = Field(None, strict=True, description=INITIALS_DOC)
    layout: bool | None = Field(None, strict=True, description=LAYOUT_DOC)
    typo: bool | None = Field(None, strict=True, description=TYPO_DOC)
    user: str | None = Field(None, strict=True, pattern=USER_ID, description=USER_DOC)

    _text_is_unicode = field_validator("text")(unicode_text)


COMPLETE_EXAMPLES: dict[str, dict[str, Any]] = {
    "half-typed": {"summary": "Korean, last syllable half-typed",
                   "value": {"text": "영화 너무 재미", "k": 3}},
    "jamo": {"summary": "Korean, one jamo typed, no spaces", "value": {"text": "나저녁에ㅂ"}},
    "next-ko": {"summary": "Korean, next word", "value": {"text": "오늘 ", "k": 5}},
    "english": {"summary": "English prefix", "value": {"text": "this movie is rea", "k": 3}},
    "phrase": {"summary": "English, phrases of up to 2 words",
               "value": {"text": "I really liked the ", "k": 3, "max_words": 2}},
    "initials": {"summary": "Korean initials (초성): ㅅㄱ for 사과", "value": {"text": "ㅅㄱ"}},
    "layout": {"summary": "Korean typed in English mode (한/영): dkssud for 안녕",
               "value": {"text": "dkssud"}},
    "typo": {"summary": "Korean, one wrong key: 먹엇다 for 먹었다",
             "value": {"text": "밥을 먹엇다"}},
    "as-typed": {"summary": "Korean, the keys as typed only",
                 "value": {"text": "ㅅㄱ", "initials": False, "layout": False, "typo": False}},
}


class CompletionItem(BaseModel):
    """A whole word (or phrase) that replaces the word being typed."""

    text: str = Field(examples=["재미있게"])
    probability: float = Field(ge=0, le=1, description="P(text | what was typed), 0..1")
    log_prob: float = Field(le=0, description="ln of probability (natural log)")
    match: Literal["exact", "initials", "layout", "typo"] = Field(description=MATCH_DOC,
                                                                  examples=["exact"])
    context: str | None = Field(
        None, description="the text before the word as it was read, when that is not as typed "
                          "(a context typed in English mode, read as Hangul): the whole text "
                          "becomes context + text; null otherwise", examples=["이 영화 "])


class CompleteResponse(BaseModel):
    """Completions, best first."""

    completions: list[CompletionItem]
    prefix: str = Field(description='the word being completed as typed; "" for the next word',
                        examples=["재미"])
    model: str = Field(description=MODEL_DOC, examples=["ngram"])
    took_ms: float = Field(description=TOOK_MS_DOC)

    model_config = {"json_schema_extra": {"examples": [{
        "completions": [{"text": "재미있게", "probability": 0.21, "log_prob": -1.56,
                         "match": "exact", "context": None},
                        {"text": "재밌게", "probability": 0.05, "log_prob": -3.0,
                         "match": "exact", "context": None}],
        "prefix": "재미", "model": "lstm", "took_ms": 3.2}]}}


class ProbabilityRequest(BaseModel):
    """POST /probability."""

    text: str = Field(strict=True, description="the context (with next) or the whole sentence "
                                               "to score (without next: at most "
                                               "AUTOCOMPLETE_MAX_TEXT_TOKENS pieces, 15,000 "
                                               "by default, once encoded)")
    next: str | None = Field(None, strict=True,
                             description="the next word(s) after text (at most "
                                         "AUTOCOMPLETE_MAX_NEXT_CHARS, 200 by default, and "
                                         "AUTOCOMPLETE_MAX_NEXT_TOKENS pieces, 300); null: "
                                         "score text as a complete sentence",
                             json_schema_extra={"pattern": A_WORD})

    _text_is_unicode = field_validator("text", "next")(unicode_text)

    @field_validator("next")
    @classmethod
    def _has_a_word(cls, value: str | None) -> str | None:
        if value is not None and not re.search(A_WORD, value):
            raise ValueError("next must contain at least one word (or be null)")
        return value


PROBABILITY_EXAMPLES: dict[str, dict[str, Any]] = {
    "next-ko": {"summary": "Korean: P(next word | text)",
                "value": {"text": "나는 밥을", "next": "먹었다"}},
    "sentence-ko": {"summary": "Korean: a whole informal sentence",
                    "value": {"text": "오늘 너무 힘들어 ㅠㅠ"}},
    "next-en": {"summary": "English: P(next words | text)",
                "value": {"text": "I really liked the", "next": "movie"}},
    "sentence-en": {"summary": "English: a whole sentence", "value": {"text": "Great value"}},
}


class NextWordsProbability(BaseModel):
    """P(next word(s), then a word boundary | text)."""

    probability: float = Field(ge=0, le=1)
    log_prob: float = Field(le=0, description="natural log of probability")
    model: str
    took_ms: float = Field(description=TOOK_MS_DOC)


class TokenPart(BaseModel):
    """One token of the text and its ln P given the tokens before it."""

    piece: str = Field(description="SentencePiece piece; ▁ starts a word, </s> ends the sentence")
    log_prob: float = Field(le=0, description="natural log")


class SentenceProbability(BaseModel):
    """ln P(text as a complete sentence, end of sentence included)."""

    log_prob: float = Field(le=0, description="natural log of the sentence's probability")
    probability: float = Field(ge=0, le=1, description="exp(log_prob); 0 when it underflows")
    tokens: list[TokenPart]
    bits_per_char: float | None = Field(description="−log2 P over (characters + 1 for the end)")
    perplexity: float | None = Field(description="per-token perplexity, exp(−log_prob / tokens); "
                                                 "null if it overflows")
    chars: int
    model: str
    took_ms: float = Field(description=TOOK_MS_DOC)


class LearnRequest(BaseModel):
    """POST /learn."""

    user: str = Field(strict=True, pattern=USER_ID, description="the user who typed it "
                      "(letters, digits, . _ -, at most 64: a random id such as a UUID)")
    text: str = Field(strict=True, description="a sentence the user typed (at most "
                      "AUTOCOMPLETE_LEARN_MAX_CHARS, 1,000 by default)",
                      json_schema_extra={"pattern": A_WORD})

    _text_is_unicode = field_validator("text")(unicode_text)

    @field_validator("text")
    @classmethod
    def _has_a_word(cls, value: str) -> str:
        if not re.search(A_WORD, value):
            raise ValueError("text must contain at least one word")
        return value


LEARN_EXAMPLES: dict[str, dict[str, Any]] = {
    "ko": {"summary": "Korean, informal", "value": {
        "user": "3f2b8c1e-demo", "text": "마코토 소령 나오는 편이 제일 재밌음ㅋㅋ"}},
    "en": {"summary": "English", "value": {"user": "3f2b8c1e-demo",
                                           "text": "Motoko is the best major ever"}},
}


class ReloadRequest(BaseModel):
    """Optional body of POST /admin/reload. Only the configured directory is ever read:
    ``model_dir``, if given, must name it."""

    model_dir: str | None = None


class ErrorDetail(BaseModel):
    """The body of a 400, 413 or 503: what went wrong, in words."""

    detail: str


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before trying again",
                                "schema": {"type": "integer"}}}
# The answers every model endpoint may give besides 200 and 422 (the middleware's and the
# service's), for the OpenAPI page.
MODEL_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorDetail, "description": "the body could not be read (not UTF-8)"},
    413: {"model": ErrorDetail,
          "description": "the body is over AUTOCOMPLETE_MAX_BODY_BYTES (64 KiB by default)"},
    503: {"model": ErrorDetail, "headers": _RETRY_AFTER,
          "description": "more than AUTOCOMPLETE_MAX_CONCURRENCY requests in flight, or no "
                         "model loaded (/ready says why): retry after Retry-After seconds"},
}
