"""A browser's own ``EventSource`` subscribing to daphne and uvicorn, in headless Chromium.

The page is any page of the server's origin (``EventSource`` then needs no
CORS); the test opens ``new EventSource("/graphql/?query=...")`` in it,
graphql-sse's distinct connections mode over GET, and records every event.
Messages are broadcast from Python; a server-side ``unsubscribe`` ends the
subscription with ``complete``, on which the page closes the source (an
``EventSource`` would otherwise reconnect).

Without ``/usr/bin/chromium`` or the ``playwright`` package this fails under
CI (``CI`` set) and is skipped elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import PYTHON_TEST_TIMEOUT, Server

from .support import ON_MESSAGE, end_room, send, until_listening

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(PYTHON_TEST_TIMEOUT + 60)]

CHROMIUM = Path("/usr/bin/chromium")
COUNT = 10

LISTEN = """
(url) => {
  window.seen = [];
  const source = new EventSource(url);
  source.onopen = () => window.seen.push({ kind: "open" });
  source.onerror = () => window.seen.push({ kind: "error", state: source.readyState });
  source.addEventListener("next", (event) =>
    window.seen.push({ kind: "next", data: JSON.parse(event.data) }));
  source.addEventListener("complete", (event) => {
    window.seen.push({ kind: "complete", data: event.data });
    source.close();
  });
}
"""


def missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
async def page(tmp_path: Path) -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} not found: install Debian's `chromium` package")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        missing("the `playwright` package (in the `test` extra) is not installed")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        try:
            yield await browser.new_page()
        finally:
            await browser.close()


async def seen(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await page.evaluate("window.seen")
    return found


async def wait_until(page: Any, predicate: Any, what: str) -> list[dict[str, Any]]:
    for _ in range(300):
        events = await seen(page)
        if predicate(events):
            return events
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}; the page saw {events}")


async def test_browser_eventsource_gets_broadcasts_in_order_and_complete(
    server: Server, page: Any
) -> None:
    room = f"eventsource-{uuid.uuid4().hex}"
    await page.goto(server.http("/graphql/"))  # any answer: the page is on the origin now
    query = urllib.parse.urlencode({"query": ON_MESSAGE, "variables": f'{{"room": "{room}"}}'})
    await page.evaluate(LISTEN, f"/graphql/?{query}")
    await wait_until(page, lambda events: {"kind": "open"} in events, "EventSource never opened")
    await until_listening(server, room)

    for seq in range(1, COUNT + 1):
        await send(server, room, seq)
    await wait_until(page, lambda events: len(events) >= COUNT + 1, "broadcasts missing")
    await end_room(server, room)
    events = await wait_until(
        page, lambda events: events[-1]["kind"] == "complete", "no complete arrived"
    )

    assert events == [
        {"kind": "open"},
        *(
            {
                "kind": "next",
                "data": {"data": {"onMessage": {"text": f"message {seq}", "seq": seq}}},
            }
            for seq in range(1, COUNT + 1)
        ),
        {"kind": "complete", "data": ""},
    ]
    # Closed on complete: no error, no reconnection afterwards.
    await asyncio.sleep(0.5)
    assert await seen(page) == events
