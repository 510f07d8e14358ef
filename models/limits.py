"""What one request may cost, counted in what the model reads.

A character limit does not bound the work: a model reads pieces (tokens), and byte
fallback turns one emoji into four of them (a rare Hangul syllable into three), each a
step of a recurrent model. So the service counts pieces after encoding:

    /complete      the context the engine reads (its last ``max_context_chars``)
                   ≤ ``TokenLimits.context``; a word being typed that is longer, in keys,
                   than any word the engine could complete gets no search at all
    /probability   ``text`` scored as a sentence ≤ ``TokenLimits.text``; with ``next``,
                   the context read ≤ ``TokenLimits.context`` and ``next`` ≤ ``TokenLimits.next``

Over a limit, ``TooManyTokens`` (a ValueError) names the part, the count and the limit;
the HTTP layer turns it into a 422.
"""

from __future__ import annotations

import dataclasses

from models import hangul
from models.completion import CompletionEngine, split_text
from models.tokenizer import Tokenizer


@dataclasses.dataclass(frozen=True)
class TokenLimits:
    """The most pieces each part of a request may hold once encoded."""

    context: int = 600  # 1.5 a character of the 400 the engine reads
    text: int = 15000  # 1.5 a character of the 10,000 /probability scores
    next: int = 300  # 1.5 a character of the 200 of next


class TooManyTokens(ValueError):
    """A part of a request that holds more pieces than its limit, once encoded."""

    WHAT = {"context": "the context the model reads", "text": "the text", "next": "next"}

    def __init__(self, part: str, tokens: int, limit: int):
        self.part, self.tokens, self.limit = part, tokens, limit
        super().__init__(f"{self.WHAT.get(part, part)} is {tokens:,} tokens once encoded, "
                         f"over the limit of {limit:,} (emoji and other characters outside "
                         f"the vocabulary take a token for each UTF-8 byte)")


def check_tokens(tok: Tokenizer, part: str, text: str, limit: int) -> None:
    """Raise TooManyTokens if ``text`` encodes to more than ``limit`` pieces.

    A text of b UTF-8 bytes has at most b + 1 pieces (every piece covers a character or,
    by byte fallback, a byte; the word marker adds one at the start), so a short text is
    passed without being encoded."""
    if len(text) + 1 <= limit and len(text.encode("utf-8", "surrogatepass")) + 1 <= limit:
        return
    tokens = len(tok.encode(text))
    if tokens > limit:
        raise TooManyTokens(part, tokens, limit)


def completion_admitted(engine: CompletionEngine, text: str, limits: TokenLimits) -> bool:
    """Whether ``engine.complete(text)`` is worth running: False when the word being typed
    is longer, in keys, than any word the engine can complete (the answer is empty; no
    search runs and no cache is filled). Raises TooManyTokens when the context the engine
    reads holds more than ``limits.context`` pieces."""
    context, partial = split_text(text)
    longest = engine.max_word_keys
    # a character is at least one key: a long word is turned away before its keys are made
    if len(partial) > longest or len(hangul.keys(partial)) > longest:
        return False
    ids = engine.context_ids(context)
    if len(ids) > limits.context:
        raise TooManyTokens("context", len(ids), limits.context)
    return True


def check_probability(engine: CompletionEngine, text: str, next_words: str | None,
                      limits: TokenLimits) -> None:
    """Raise TooManyTokens when ``engine.score(text)`` (``next_words`` None) or
    ``engine.word_logprob(text, next_words)`` would read more pieces than the limits let."""
    if next_words is None:
        check_tokens(engine.tok, "text", text, limits.text)
        return
    ids = engine.context_ids(text)
    if len(ids) > limits.context:
        raise TooManyTokens("context", len(ids), limits.context)
    words = next_words.split()  # word_logprob reads next word by word
    if sum(len(w.encode("utf-8", "surrogatepass")) + 1 for w in words) <= limits.next:
        return
    tokens = sum(len(engine.tok.encode(w)) for w in words)
    if tokens > limits.next:
        raise TooManyTokens("next", tokens, limits.next)
