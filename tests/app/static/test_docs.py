"""The API page in a real headless Chromium that may reach nothing but the service: every
request to another origin is aborted (and recorded), as on a machine without internet.
/docs (Swagger UI) must still load its script and stylesheet, from the service itself
(fastapi-offline), and list the operations. Leaves test-artifacts/docs.png."""

from __future__ import annotations

import pytest

from tests.app.static.test_demo import ARTIFACTS, browser  # noqa: F401 - the fixture

# operations the page must list (method, path): summary
OPERATIONS = {("POST", "/complete"): "Complete what was typed",
              ("GET", "/complete"): "Complete what was typed (cacheable GET)",
              ("GET", "/suggest"): "Suggestions for a search box (OpenSearch JSON)",
              ("POST", "/probability"): "Probability of the next word(s) or of a sentence",
              ("GET", "/health"): "Liveness: the process answers"}


@pytest.fixture
def offline(browser, live_server):  # noqa: F811 - the fixture imported above
    """A page whose requests outside the server's origin are aborted; the list of them."""
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="ko-KR")
    outside: list[str] = []
    origin = live_server.url + "/"

    def only_the_service(route) -> None:
        if route.request.url.startswith(origin):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_the_service)
    page = context.new_page()
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("response", lambda r: r.status >= 400 and failed.append(f"{r.status} {r.url}"))
    yield page, outside, failed
    context.close()


def test_swagger_ui_lists_the_operations_without_the_internet(offline, live_server):
    page, outside, failed = offline
    page.goto(live_server.url + "/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=15000)
    listed = {(block.locator(".opblock-summary-method").text_content(),
               block.locator(".opblock-summary-path").get_attribute("data-path"))
              for block in page.locator(".opblock").all()}
    assert set(OPERATIONS) <= listed, listed
    # the stylesheet is applied, not just fetched: Swagger's own colour for a GET block
    get_colour = page.locator(".opblock-get").first.evaluate(
        "e => getComputedStyle(e).borderColor")
    assert get_colour == "rgb(97, 175, 254)"
    # an operation opens and shows its parameters and the description of the service
    page.locator('.opblock-summary-path[data-path="/suggest"]').click()
    page.wait_for_selector('.opblock-get .parameters tr[data-param-name="q"]', timeout=10000)
    assert "먹었다" in page.locator(".info .description").text_content()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "docs.png"), full_page=False)
    assert outside == [] and failed == [], (outside, failed)


def test_there_is_no_redoc_page_to_reach_a_cdn(live_server):
    """ReDoc's sidebar fetches its logo from cdn.redoc.ly, whatever serves its script: the
    service offers Swagger UI alone."""
    assert live_server.get("/redoc").status_code == 404
    assert live_server.get("/docs").status_code == 200
