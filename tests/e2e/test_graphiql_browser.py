"""End to end in a real browser: the example's GraphiQL page in headless Chromium.

`python3 run.py example` serves the page (built by it from the committed
sources and lock file); Debian's Chromium (`/usr/bin/chromium`) opens it,
driven by Python `playwright`, which is told to use that executable: nothing
here downloads a browser or a driver. The page is served from 127.0.0.1 and
every request elsewhere is refused and recorded, so the tests also show that
the page works offline.

The operation is put in GraphiQL's editor through the page's `?query=`
parameter and started with GraphiQL's own Run button, so it goes through the
page's WebSocket fetcher and its result is read from GraphiQL's result pane.

Without `/usr/bin/chromium` (`apt-get install chromium`) or the `playwright`
package these tests are skipped, except under CI (`CI` set), where they fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .test_example_server import (
    STARTUP_TIMEOUT,
    ExampleServer,
    chat_client,
    example_server,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(STARTUP_TIMEOUT + 120)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # Tests run as root, where Chromium's sandbox refuses to start.
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: Seconds the page gets to show something (GraphiQL, a status, a result).
PAGE_TIMEOUT = 30.0


def _missing(reason: str) -> None:
    """Fail under CI, where the browser test must run; skip elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleServer]:
    """One example server for this module's tests."""
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} not found: install Debian's `chromium` package")
    log = tmp_path_factory.mktemp("run-example") / "run-example.log"
    with example_server(log) as running:
        print(f"`run.py example` served after {running.startup_seconds:.1f} s; log: {log}")
        yield running


class Browser:
    """One page of a fresh Chromium profile, and what it did that it should not."""

    def __init__(self, page: Any, outside_requests: list[str], page_errors: list[str]) -> None:
        self.page = page
        self.outside_requests = outside_requests
        self.page_errors = page_errors

    async def open(self, server: ExampleServer, query: str) -> None:
        await self.page.goto(server.http("/?" + urllib.parse.urlencode({"query": query})))
        await self.wait_for_status("connected")

    async def status(self) -> str:
        text: str = await self.page.get_by_test_id("connection-status").inner_text()
        return text

    async def wait_for_status(self, *parts: str) -> str:
        """Wait until the connection status line contains every one of `parts`."""
        return await self._wait_for(self.status, parts, "connection status")

    async def result_text(self) -> str:
        """GraphiQL's result pane as text (Monaco renders spaces as no-break spaces)."""
        text: str = await self.page.locator(".graphiql-response").inner_text()
        return " ".join(text.replace("\xa0", " ").split())

    async def wait_for_result(self, *parts: str) -> str:
        """Wait until the result pane contains every one of `parts`."""
        return await self._wait_for(self.result_text, parts, "result pane")

    async def run_operation(self) -> None:
        """Press GraphiQL's own Run button."""
        await self.page.locator(".graphiql-execute-button").click()

    async def _wait_for(self, read: Any, parts: tuple[str, ...], what: str) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PAGE_TIMEOUT
        while True:
            text: str = await read()
            if all(part in text for part in parts):
                return text
            if loop.time() > deadline:
                pytest.fail(f"The {what} never showed {parts!r}; it shows: {text!r}")
            await asyncio.sleep(0.1)


@pytest.fixture
async def browser(
    server: ExampleServer, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Browser]:
    """Headless Debian Chromium with a fresh profile; a screenshot is saved at the end.

    Requests to anything but the example server are aborted and recorded, and
    so are uncaught errors of the page; the test checks both lists are empty.
    """
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _missing("the `playwright` package (in the `test` extra) is not installed")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        outside_requests: list[str] = []
        page_errors: list[str] = []

        async def only_the_example(route: Any) -> None:
            url = route.request.url
            if url.startswith(server.http("/")) or url.startswith("data:"):
                await route.continue_()
            else:
                outside_requests.append(url)
                await route.abort()

        await context.route("**/*", only_the_example)
        page = context.pages[0] if context.pages else await context.new_page()
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        try:
            yield Browser(page, outside_requests, page_errors)
        finally:
            # Also after a failure: the picture shows what the page showed.
            screenshot = tmp_path / f"{request.node.name}.png"
            await page.screenshot(path=str(screenshot))
            print(f"Screenshot: {screenshot}")
            await context.close()


def stream_requests(browser: Browser) -> list[str]:
    """The ``Accept`` of every POST the page sends to /graphql/ from now on."""
    accepts: list[str] = []

    def on_request(request: Any) -> None:
        if request.method == "POST" and urllib.parse.urlparse(request.url).path == "/graphql/":
            accepts.append(request.headers.get("accept", ""))

    browser.page.on("request", on_request)
    return accepts


@pytest.mark.parametrize("transport", ["ws", "sse", "multipart"])
async def test_subscription_started_in_graphiql_shows_a_message_sent_by_another_client(
    server: ExampleServer, browser: Browser, transport: str
) -> None:
    """The transport switch: the same subscription over WebSocket, SSE and multipart."""
    accepts = stream_requests(browser)
    room = f"kittens-{transport}-{os.getpid()}-{id(browser)}"
    await browser.open(
        server,
        f'subscription {{ onNewChatMessage(chatroom: "{room}") {{ chatroom text sender }} }}',
    )
    await browser.page.get_by_test_id("subscription-transport").select_option(transport)
    await browser.run_operation()
    # The example confirms subscriptions: `{"data": null}` means it is live.
    await browser.wait_for_result('"data": null')

    async with aiohttp.ClientSession() as session, chat_client(session, server) as other:
        await other.execute(
            f'mutation {{ sendChatMessage(chatroom: "{room}", text: "Meow from Python") '
            "{ message { text } } }"
        )

    shown = await browser.wait_for_result('"text": "Meow from Python"')
    assert f'"chatroom": "{room}"' in shown
    assert '"sender": "anonymous"' in shown
    wanted = {"ws": [], "sse": ["text/event-stream"], "multipart": ["multipart/mixed"]}[transport]
    assert [accept.split(";")[0] for accept in accepts] == wanted
    assert browser.outside_requests == []
    assert browser.page_errors == []


async def test_connection_init_payload_editor_reconnects_with_the_new_payload(
    server: ExampleServer, browser: Browser
) -> None:
    async with aiohttp.ClientSession() as session, chat_client(session, server) as other:
        login = await other.execute(
            'mutation { login(username: "alice", password: "alice") { token } }'
        )
    token = login["login"]["token"]

    await browser.open(server, "{ me }")
    assert '"user":null' in await browser.status()

    payload = browser.page.get_by_test_id("connection-init-payload")
    await payload.fill(json.dumps({"token": token}))
    await browser.page.get_by_test_id("reconnect").click()
    await browser.wait_for_status("connected", '"user":"alice"')
    await browser.run_operation()
    await browser.wait_for_result('"me": "alice"')

    await payload.fill(json.dumps({"token": "forged"}))
    await browser.page.get_by_test_id("reconnect").click()
    await browser.wait_for_status("closed with 4403")

    await payload.fill("{not json")
    await browser.wait_for_status("Not JSON")
    assert await browser.page.get_by_test_id("reconnect").is_disabled()
    assert browser.outside_requests == []
    assert browser.page_errors == []
