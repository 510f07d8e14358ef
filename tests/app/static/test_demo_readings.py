"""The demo page shows how each completion matched what was typed (초성, 한/영, 오타), and
accepting one typed in English mode puts the Hangul in the box, the context too. In a real
headless Chromium, against the live server (the sample model)."""

from __future__ import annotations

from tests.app.static.test_demo import browser, page, suggestions, wait_offered  # noqa: F401


def tag_of(pg, word: str) -> str | None:
    """The match tag shown after ``word`` (None for a word matched key for key)."""
    return pg.evaluate(
        "w => { const e = [...document.querySelectorAll('#suggestions li .word')]"
        ".find(e => e.textContent === w); return e ? e.dataset.match ?? null : undefined; }",
        word)


def accept(pg, word: str) -> None:
    for _ in range(suggestions(pg).all_text_contents().index(word)):
        pg.keyboard.press("ArrowDown")
    pg.keyboard.press("Tab")


def test_the_match_kind_is_shown_and_the_hangul_accepted(page):  # noqa: F811
    box = page.locator("#q")
    box.click()
    page.keyboard.insert_text("rkqkd")  # 가방 with the keyboard in English mode
    wait_offered(page, "가방")
    assert tag_of(page, "가방") == "한/영"
    accept(page, "가방")
    page.wait_for_function("() => document.getElementById('q').value === '가방 '")

    box.fill("")
    page.keyboard.insert_text("sksms qkqdmf ajrdjT")  # 나는 밥을 먹었, all in English mode
    wait_offered(page, "먹었다")
    assert tag_of(page, "먹었다") == "한/영"
    accept(page, "먹었다")  # the context is replaced by its Hangul too
    page.wait_for_function("() => document.getElementById('q').value === '나는 밥을 먹었다 '")

    box.fill("")
    page.keyboard.insert_text("나는 밥을 먹엇다")  # Shift missed on ㅆ
    wait_offered(page, "먹었다")
    assert tag_of(page, "먹었다") == "오타"

    box.fill("")
    page.keyboard.insert_text("ㅋㅋ")  # consonants written as a word: as typed, no tag
    wait_offered(page, "ㅋㅋㅋ")
    assert tag_of(page, "ㅋㅋㅋ") is None
    box.fill("")
    page.keyboard.insert_text("ㅅㄱ")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#suggestions li .word')]"
        ".some(e => e.dataset.match === '초성')", timeout=15000)
