"""Hangul at the level of keystrokes (the standard 2-beolsik layout).

A Korean keyboard sends jamo, one key each, and the screen shows them composed:
typing 먹었다 shows ㅁ, 머, 먹, 먹ㅇ, 먹어, 먹었, 먹었ㄷ, 먹었다 in turn. A word
typed so far matches a candidate word when the keys behind what is on the
screen are a prefix of the keys of the candidate: 머 (ㅁㅓ) can still become
먹 (ㅁㅓㄱ), 오 (ㅗ) can become 와 (ㅗㅏ), 갑 (ㄱㅏㅂ) can become 가방 (ㄱㅏㅂㅏㅇ).

Characters that are not Hangul are one key each, so for English the rule is the
ordinary string prefix. The definitions follow ``shared/bench/autocomplete_eval.py``
so that what we optimise is what the benchmark counts.
"""

from __future__ import annotations

from functools import lru_cache

CHO = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
JUNG = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
JONG = ["", *"ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ"]
# Compound vowels and finals take two keys; a double consonant (ㄲ) is one shifted key.
SPLIT = {
    "ㅘ": "ㅗㅏ", "ㅙ": "ㅗㅐ", "ㅚ": "ㅗㅣ", "ㅝ": "ㅜㅓ", "ㅞ": "ㅜㅔ", "ㅟ": "ㅜㅣ",
    "ㅢ": "ㅡㅣ",
    "ㄳ": "ㄱㅅ", "ㄵ": "ㄴㅈ", "ㄶ": "ㄴㅎ", "ㄺ": "ㄹㄱ", "ㄻ": "ㄹㅁ", "ㄼ": "ㄹㅂ",
    "ㄽ": "ㄹㅅ", "ㄾ": "ㄹㅌ", "ㄿ": "ㄹㅍ", "ㅀ": "ㄹㅎ", "ㅄ": "ㅂㅅ",
}
JOIN = {v: k for k, v in SPLIT.items()}
VOWELS = frozenset(JUNG)
# Unicode's arithmetic of precomposed syllables (The Unicode Standard, 3.12): a syllable is
# BASE + (initial · V_COUNT + vowel) · T_COUNT + final, the final 0 for none.
_SYLLABLE_BASE = 0xAC00
_V_COUNT = len(JUNG)  # 21 vowels
_T_COUNT = len(JONG)  # 28 finals, none included
_N_COUNT = _V_COUNT * _T_COUNT  # 588 syllables share each initial consonant
_SYLLABLE_COUNT = len(CHO) * _N_COUNT  # 11,172: 가..힣


def is_syllable(ch: str) -> bool:
    """True for a precomposed Hangul syllable (가..힣)."""
    return 0 <= ord(ch) - _SYLLABLE_BASE < _SYLLABLE_COUNT


def keys(text: str) -> str:
    """The keys that type ``text`` on a 2-beolsik keyboard, one character per key.

    Keys of a concatenation are the concatenation of keys, so callers may key a
    word piece by piece. Memoised for short texts only (pieces and words): a long
    typed text is keyed afresh, so what users type cannot fill the table.
    """
    return _keys(text) if len(text) <= _MEMO_CHARS else _keys.__wrapped__(text)


_MEMO_CHARS = 32


@lru_cache(maxsize=65536)
def _keys(text: str) -> str:
    out: list[str] = []
    for ch in text:
        code = ord(ch) - _SYLLABLE_BASE
        if 0 <= code < _SYLLABLE_COUNT:
            cho, jung, jong = code // _N_COUNT, code % _N_COUNT // _T_COUNT, code % _T_COUNT
            out += [CHO[cho], SPLIT.get(JUNG[jung], JUNG[jung]), SPLIT.get(JONG[jong], JONG[jong])]
        else:
            out.append(SPLIT.get(ch, ch))
    return "".join(out)


def _syllable(cho: str | None, jung: str | None, jong: str | None) -> str:
    if cho and jung:
        return chr(_SYLLABLE_BASE + (CHO.index(cho) * _V_COUNT + JUNG.index(jung)) * _T_COUNT
                   + JONG.index(jong or ""))
    return (cho or "") + (jung or "")


def compose(keystrokes: str) -> str:
    """What the screen shows after these keystrokes (the usual 2-beolsik automaton)."""
    done: list[str] = []
    cho = jung = jong = None
    for k in keystrokes:
        if k in VOWELS:
            if cho and not jung:
                jung = k
            elif jung and not jong and JOIN.get(jung + k) in VOWELS:
                jung = JOIN[jung + k]
            elif jong:  # the final (or its second half) moves on to the new syllable
                first, second = SPLIT.get(jong, " " + jong)
                done.append(_syllable(cho, jung, first.strip()))
                cho, jung, jong = second, k, None
            else:
                done.append(_syllable(cho, jung, jong))
                cho, jung, jong = None, k, None
        elif k in CHO or k in SPLIT or k in JOIN.values():
            if cho and jung and not jong and k in JONG:
                jong = k
            elif jong and JOIN.get(jong + k) in JONG:
                jong = JOIN[jong + k]
            else:
                done.append(_syllable(cho, jung, jong))
                cho, jung, jong = (k, None, None) if k in CHO else (None, None, None)
                if k not in CHO:
                    done.append(k)
        else:
            done.append(_syllable(cho, jung, jong))
            cho = jung = jong = None
            done.append(k)
    done.append(_syllable(cho, jung, jong))
    return "".join(done)


def screens(word: str) -> list[str]:
    """What the screen shows after each keystroke of ``word``.

    A word the automaton cannot reproduce as one run (영화ㅋㅋ: the ㅋ would join
    화) is composed character by character.
    """
    k = keys(word)
    if compose(k) == word:
        return [compose(k[:j]) for j in range(1, len(k) + 1)]
    out: list[str] = []
    for i, ch in enumerate(word):
        ks = keys(ch)
        out += [word[:i] + compose(ks[:j]) for j in range(1, len(ks) + 1)]
    return out


def can_become(typed: str, word: str) -> bool:
    """True when ``word`` can still be reached by typing more keys after ``typed``."""
    return keys(word).startswith(keys(typed))


# --- the keyboard: which Latin key types which jamo, and which keys are neighbours ------
# The standard 2-beolsik layout on a QWERTY keyboard; Shift gives the five tense
# consonants and two vowels, and on any other key the same jamo as without it.
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
JAMO_OF_LATIN = dict(zip("qwertyuiopasdfghjklzxcvbnm",
                         "ㅂㅈㄷㄱㅅㅛㅕㅑㅐㅔㅁㄴㅇㄹㅎㅗㅓㅏㅣㅋㅌㅊㅍㅠㅜㅡ", strict=True))
JAMO_OF_LATIN |= {c.upper(): j for c, j in JAMO_OF_LATIN.items()}
JAMO_OF_LATIN |= dict(zip("QWERTOP", "ㅃㅉㄸㄲㅆㅒㅖ", strict=True))
LATIN_OF_JAMO = {j: c for c, j in JAMO_OF_LATIN.items() if c.islower() or c in "QWERTOP"}


def latin_keys(text: str) -> str | None:
    """The jamo keys that Latin letters typed in English mode stand for (``dkssud`` →
    ㅇㅏㄴㄴㅕㅇ, ``ajrdjTek`` → ㅁㅓㄱㅇㅓㅆㄷㅏ), or None when ``text`` is not letters alone
    or would not compose as Hangul: a vowel with no consonant before it (``movie`` gives
    ㅡㅐ…), which no 2-beolsik typist produces, or no syllable at all."""
    if not text or not all(c in JAMO_OF_LATIN for c in text):
        return None
    ks = "".join(JAMO_OF_LATIN[c] for c in text)
    shown = compose(ks)
    if any(c in VOWELS for c in shown) or not any(is_syllable(c) for c in shown):
        return None
    return ks


def from_latin(text: str) -> str | None:
    """``text`` as it would have appeared with the keyboard in Korean mode (``dkssud
    qksrkdnj`` → ``안녕 반가워``): every run of ASCII letters composed from its 2-beolsik
    keys, everything else kept. None when a run does not compose as Hangul (see
    ``latin_keys``), when there is no letter, or when the text holds Hangul already."""
    out: list[str] = []
    run = ""
    for ch in text + " ":
        if ch in JAMO_OF_LATIN:
            run += ch
            continue
        if run:
            ks = latin_keys(run)
            if ks is None:
                return None
            out.append(compose(ks))
            run = ""
        if is_syllable(ch) or ch in JUNG or ch in CHO:
            return None
        out.append(ch)
    converted = "".join(out)[:-1]
    return converted if converted != text else None


def neighbours(jamo: str) -> str:
    """The jamo a finger meant for ``jamo`` may type instead, and the other way round: its
    own key with Shift or without (ㅅ, ㅆ), and the keys next to it on a staggered QWERTY
    keyboard (left, right, the two above and the two below), with Shift or without."""
    latin = LATIN_OF_JAMO.get(jamo)
    if latin is None:
        return ""
    latin = latin.lower()
    r = next(i for i, row in enumerate(_ROWS) if latin in row)
    c = _ROWS[r].index(latin)
    out = [j for j in (JAMO_OF_LATIN[latin], JAMO_OF_LATIN[latin.upper()]) if j != jamo]
    for dr, dc in ((0, -1), (0, 1), (-1, 0), (-1, 1), (1, -1), (1, 0)):
        if 0 <= r + dr < len(_ROWS) and 0 <= c + dc < len(_ROWS[r + dr]):
            key = _ROWS[r + dr][c + dc]
            out.append(JAMO_OF_LATIN[key])
            if JAMO_OF_LATIN[key.upper()] != JAMO_OF_LATIN[key]:
                out.append(JAMO_OF_LATIN[key.upper()])
    return "".join(out)


def initials(text: str) -> str:
    """The initial consonants of the leading run of syllables of ``text`` (사과를 → ㅅㄱㄹ)."""
    out = []
    for ch in text:
        if not is_syllable(ch):
            break
        out.append(CHO[(ord(ch) - _SYLLABLE_BASE) // _N_COUNT])
    return "".join(out)
