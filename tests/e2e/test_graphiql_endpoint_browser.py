"""The library's GraphiQL page at the endpoint itself, in headless Debian Chromium.

The example's consumer sets ``graphiql = True`` and points
``graphiql_base_url`` at the example's offline copy of GraphiQL 4 and
React 18 (``run.py example`` builds it into ``static_build/graphiql-cdn/``),
so the page loads nothing from outside: every request elsewhere is refused
and recorded, and the test checks there was none. GraphiQL's own Run button
runs each operation: queries and mutations go as POSTs to ``/graphql/``,
subscriptions over the transport the page's switch picks: a WebSocket to
the same URL, Server-Sent Events or multipart (a streaming POST).

Browser and server fixtures come from ``test_graphiql_browser.py``; they fail
under CI and skip elsewhere when Chromium or playwright is missing.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

import aiohttp
import pytest

from .test_example_server import ExampleServer, chat_client
from .test_graphiql_browser import STARTUP_TIMEOUT, Browser, browser, server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(STARTUP_TIMEOUT + 120)]

__all__ = ["browser", "server"]  # fixtures used here, defined there


async def open_graphiql(browser: Browser, server: ExampleServer, query: str) -> None:
    """Load the endpoint's page with ``query`` in the editor; wait for GraphiQL."""
    url = server.http("/graphql/?" + urllib.parse.urlencode({"query": query}))
    response = await browser.page.goto(url)
    assert response is not None and response.status == 200
    await browser.page.locator(".graphiql-execute-button").wait_for(timeout=30_000)


def graphql_traffic(browser: Browser) -> dict[str, list[str]]:
    """Record the page's POSTs and WebSockets to /graphql/ from now on."""
    seen: dict[str, list[str]] = {"posts": [], "sockets": []}

    def on_request(request: Any) -> None:
        if request.method == "POST" and urllib.parse.urlparse(request.url).path == "/graphql/":
            seen["posts"].append(request.post_data or "")

    browser.page.on("request", on_request)
    browser.page.on("websocket", lambda ws: seen["sockets"].append(ws.url))
    return seen


async def test_graphiql_at_the_endpoint_runs_queries_and_mutations_over_http(
    server: ExampleServer, browser: Browser
) -> None:
    traffic = graphql_traffic(browser)
    room = f"http-{os.getpid()}-{id(browser)}"
    await open_graphiql(
        browser,
        server,
        f'mutation {{ sendChatMessage(chatroom: "{room}", text: "over HTTP") '
        "{ message { text sender } } }",
    )
    await browser.run_operation()
    await browser.wait_for_result('"text": "over HTTP"', '"sender": "anonymous"')

    await open_graphiql(browser, server, f'{{ history(chatroom: "{room}") {{ text }} }}')
    await browser.run_operation()
    await browser.wait_for_result('"history"', '"text": "over HTTP"')

    assert any("sendChatMessage" in body for body in traffic["posts"]), traffic
    assert any("history" in body for body in traffic["posts"]), traffic
    assert traffic["sockets"] == []  # nothing but subscriptions opens the socket
    assert browser.outside_requests == []
    assert browser.page_errors == []


@pytest.mark.parametrize("transport", ["ws", "sse", "multipart"])
async def test_graphiql_at_the_endpoint_runs_subscriptions_over_the_chosen_transport(
    server: ExampleServer, browser: Browser, transport: str
) -> None:
    traffic = graphql_traffic(browser)
    room = f"{transport}-{os.getpid()}-{id(browser)}"
    await open_graphiql(
        browser, server, f'subscription {{ onNewChatMessage(chatroom: "{room}") {{ text }} }}'
    )
    await browser.page.get_by_test_id("subscription-transport").select_option(transport)
    await browser.run_operation()
    await browser.wait_for_result('"data": null')  # the example confirms subscriptions

    async with aiohttp.ClientSession() as session, chat_client(session, server) as other:
        await other.execute(
            f'mutation {{ sendChatMessage(chatroom: "{room}", text: "to the page") '
            "{ message { text } } }"
        )
    await browser.wait_for_result('"text": "to the page"')

    subscribed = [body for body in traffic["posts"] if "onNewChatMessage" in body]
    if transport == "ws":
        assert traffic["sockets"] == [f"ws://127.0.0.1:{server.port}/graphql/"]
        assert subscribed == [], traffic
    else:
        assert traffic["sockets"] == []
        assert len(subscribed) == 1, traffic
    assert browser.outside_requests == []
    assert browser.page_errors == []
