"""The demo page in a real headless Chromium: Korean typed through the IME (composition
events, a half-typed syllable) and as plain text, English, arrow keys, Tab and Enter.
Leaves a screenshot in test-artifacts/demo.png."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 900, "height": 560}, locale="ko-KR")
    pg = context.new_page()
    pg.goto(live_server.url + "/")
    pg.wait_for_selector("#suggestions li")  # the first words of a sentence, before any key
    yield pg
    context.close()


def suggestions(page):
    return page.locator("#suggestions li .word")


def wait_offered(page, word: str) -> None:
    """Until `word` is offered by the answer for the text typed now (not an older one)."""
    page.wait_for_function(
        "w => { const q = document.getElementById('q');"
        " return document.getElementById('suggestions').dataset.for"
        " === q.value.slice(0, q.selectionEnd)"
        " && [...document.querySelectorAll('#suggestions li .word')]"
        ".some(e => e.textContent === w); }", arg=word, timeout=15000)


def test_korean_through_the_ime_follows_the_half_typed_syllable(page):
    box = page.locator("#q")
    box.click()
    page.keyboard.insert_text("나는 밥을 ")
    cdp = page.context.new_cdp_session(page)
    for screen in ("ㅁ", "머"):  # what a 2-beolsik IME shows while 먹 is being typed
        cdp.send("Input.imeSetComposition",
                 {"text": screen, "selectionStart": len(screen), "selectionEnd": len(screen)})
        page.wait_for_function("s => document.getElementById('q').value.endsWith(s)", arg=screen)
        wait_offered(page, "먹었다")
    assert box.input_value() == "나는 밥을 머"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo.png"))  # suggestions for a half-typed syllable
    cdp.send("Input.insertText", {"text": "머"})  # the IME commits the syllable
    wait_offered(page, "먹었다")
    index = suggestions(page).all_text_contents().index("먹었다")
    for _ in range(index):
        page.keyboard.press("ArrowDown")
    assert page.locator('#suggestions li[aria-selected="true"] .word').text_content() == "먹었다"
    page.keyboard.press("Tab")
    page.wait_for_function("() => document.getElementById('q').value === '나는 밥을 먹었다 '")
    page.wait_for_selector("#suggestions li")  # and now the word after it
    bars = page.locator("#suggestions li .bar span")
    assert bars.count() == suggestions(page).count()
    assert "%" in page.locator("#suggestions li .pct").first.text_content()


def test_korean_typed_without_spaces_and_english_accepted_with_enter(page):
    box = page.locator("#q")
    box.click()
    page.keyboard.insert_text("오늘 너무 힘")  # informal, the last word half typed
    wait_offered(page, "힘들어")
    box.fill("")
    page.keyboard.type("I really liked the mo", delay=10)
    wait_offered(page, "movie")
    index = suggestions(page).all_text_contents().index("movie")
    for _ in range(index):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.getElementById('q').value === 'I really liked the movie '")
    page.keyboard.insert_text("ㅋㅋ 진짜 재")
    page.wait_for_function("() => document.querySelectorAll('#suggestions li').length > 0")
    assert "ngram" in page.locator("#status").text_content()


def test_a_list_older_than_the_last_keystroke_completes_the_word_typed_now(page):
    """A fast typist accepts while the answer for the last key is still on its way: the
    list shown answers "...the m", the box holds "...the mo". Accepting must give "movie",
    not "mmovie"; a word that no longer fits is not accepted; and the word picked with the
    arrows stays picked when the fresh answer arrives and reorders the list. Answers for
    the last key are held back (injected latency) until the keys are pressed."""
    held = []

    def hold_last_key(route):
        text = json.loads(route.request.post_data or "{}").get("text", "")
        if text.endswith(("the mo", "the mx")):
            held.append(route)
        else:
            route.continue_()

    def type_held(key: str) -> None:
        page.keyboard.type(key)
        page.wait_for_function("k => document.getElementById('q').value.endsWith(k)",
                               arg="the m" + key)
        assert page.locator("#suggestions").get_attribute("data-for").endswith("the m")

    page.route("**/complete", hold_last_key)
    box = page.locator("#q")
    box.click()
    page.keyboard.type("I really liked the m", delay=10)
    wait_offered(page, "movies")
    type_held("o")
    for _ in range(suggestions(page).all_text_contents().index("movies")):
        page.keyboard.press("ArrowDown")
    held.pop().continue_()
    wait_offered(page, "movies")
    assert page.locator('#suggestions li[aria-selected="true"] .word').text_content() == "movies"
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.getElementById('q').value === 'I really liked the movies '")

    box.fill("")
    page.keyboard.type("I really liked the m", delay=10)
    wait_offered(page, "movie")
    type_held("o")
    page.keyboard.press("Enter")  # the first choice, "movie", still fits "mo"
    page.wait_for_function(
        "() => document.getElementById('q').value === 'I really liked the movie '")
    held.pop().continue_()

    box.fill("")
    page.keyboard.type("I really liked the m", delay=10)
    wait_offered(page, "movie")
    type_held("x")
    page.keyboard.press("Enter")  # nothing in the list for "m" fits "mx"
    page.keyboard.press("Tab")
    held.pop().continue_()
    page.wait_for_function(
        "() => document.getElementById('suggestions').dataset.for.endsWith('the mx')")
    assert box.input_value() == "I really liked the mx"
