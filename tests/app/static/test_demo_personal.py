"""The demo page learns the sentences typed there under a random id kept in the browser, and
"forget me" deletes them: in a real headless Chromium, against the live server."""

from __future__ import annotations

from tests.app.static.test_demo import (  # noqa: F401
    ARTIFACTS,
    browser,
    page,
    suggestions,
    wait_offered,
)


def first_for(pg, text: str) -> str:
    """The first word offered for ``text`` typed into an empty box."""
    box = pg.locator("#q")
    box.fill("")
    pg.keyboard.insert_text(text)
    pg.wait_for_function(
        "t => document.getElementById('suggestions').dataset.for === t"
        " && document.querySelectorAll('#suggestions li').length > 0", arg=text,
        timeout=15000)
    return suggestions(pg).first.text_content()


def test_the_page_learns_what_is_typed_and_forgets_it(page):  # noqa: F811
    user = page.evaluate("() => localStorage.getItem('autocomplete-user')")
    assert user and user.startswith("demo-") and len(user) == 37
    before = first_for(page, "마")
    assert before != "마코토"
    for sentence in ("마코토 소령 최고ㅋㅋ", "쿠사나기 마코토 나오는 편"):
        page.locator("#q").fill("")
        page.keyboard.insert_text(sentence)
        page.keyboard.press("Control+Enter")  # the sentence is done: learned
        page.wait_for_function("() => document.getElementById('q').value === ''")
    page.wait_for_function("() => document.getElementById('status').textContent"
                           ".includes('learned')")
    assert first_for(page, "마") == "마코토"
    page.wait_for_function("() => document.getElementById('status').textContent"
                           ".includes('personal')")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-personal.png"))
    page.locator("#forget").click()
    page.wait_for_function("() => document.getElementById('status').textContent"
                           ".includes('forgotten')")
    fresh = page.evaluate("() => localStorage.getItem('autocomplete-user')")
    assert fresh != user and fresh.startswith("demo-")
    assert first_for(page, "마") == before
    # the old id is gone from the server too
    page.evaluate("u => fetch('/complete', {method: 'POST', headers: {'Content-Type': "
                  "'application/json'}, body: JSON.stringify({text: '마', user: u})})"
                  ".then(r => r.json()).then(d => window.__old = d.completions[0].text)", user)
    page.wait_for_function("() => window.__old !== undefined")
    assert page.evaluate("() => window.__old") == before
