"""The ``Accept`` header: which answer a client wants, JSON or one of the two streams.

Sans I/O, standard library only. ``negotiate`` picks the JSON (or HTML)
type of a plain response; ``negotiate_stream`` says whether the client
asked for a stream: Server-Sent Events (``text/event-stream``, the
graphql-sse protocol) or Apollo's multipart subscriptions
(``multipart/mixed`` with ``subscriptionSpec=1.0``, quoted or not).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from .responses import APPLICATION_JSON, GRAPHQL_RESPONSE_JSON, TEXT_HTML

EVENT_STREAM = "text/event-stream"
MULTIPART_MIXED = "multipart/mixed"
#: The version of Apollo's multipart subscription protocol we speak.
SUBSCRIPTION_SPEC = "1.0"


@dataclass(frozen=True)
class AcceptEntry:
    """One media range of an ``Accept`` header, with its parameters (``q`` apart)."""

    media_range: str
    parameters: tuple[tuple[str, str], ...]
    quality: float
    index: int

    def parameter(self, name: str) -> str | None:
        return next((value for key, value in self.parameters if key == name), None)


def parse_accept(accept: str | None) -> list[AcceptEntry]:
    """The entries of ``accept``, most preferred first (``q``, then the client's order).

    Entries with a malformed ``q`` are dropped; entries with ``q=0`` are
    kept (they refuse a type), so callers see them with quality 0.
    """
    entries = []
    for index, entry in enumerate((accept or "").split(",")):
        media_range, *raw_parameters = entry.split(";")
        media_range = media_range.strip().lower()
        if not media_range:
            continue
        quality: float | None = 1.0
        parameters = []
        for raw in raw_parameters:
            name, _, value = raw.partition("=")
            name = name.strip().lower()
            value = value.strip().strip('"').strip("'")
            if name == "q":
                quality = _quality(value)
            elif name:
                parameters.append((name, value))
        if quality is not None:
            entries.append(AcceptEntry(media_range, tuple(parameters), quality, index))
    return sorted(entries, key=lambda found: (-found.quality, found.index))


def _quality(value: str) -> float | None:
    try:
        quality = float(value)
    except ValueError:
        return None
    return quality if 0 <= quality <= 1 else None


def negotiate(accept: str | None, offered: Sequence[str]) -> str | None:
    """The media type to answer with, or None when nothing asked for is offered.

    Entries are taken by ``q`` (highest first, ties in the client's order);
    ``q=0`` refuses a type, also for the wildcards. ``*/*`` and
    ``application/*`` mean ``application/json`` (section 1.1), never
    ``text/html``; no ``Accept`` at all means ``application/json`` too.
    """
    if accept is None or not accept.strip():
        return APPLICATION_JSON if APPLICATION_JSON in offered else None
    entries = parse_accept(accept)
    refused = {entry.media_range for entry in entries if entry.quality <= 0}
    for entry in entries:
        media_range = entry.media_range
        if entry.quality <= 0:
            continue
        if media_range in offered:
            return media_range
        if media_range in ("*/*", "application/*"):
            if APPLICATION_JSON in offered and APPLICATION_JSON not in refused:
                return APPLICATION_JSON
        elif media_range == "text/*" and TEXT_HTML in offered and TEXT_HTML not in refused:
            return TEXT_HTML
    return None


# ------------------------------------------------------------------ streams


class StreamKind(enum.Enum):
    """The two ways to stream results over one HTTP response."""

    SSE = "text/event-stream"
    MULTIPART = "multipart/mixed"


@dataclass(frozen=True)
class StreamChoice:
    """A stream the client accepts; ``preferred`` when it ranks above every JSON type.

    A preferred stream carries any operation; one the client ranks below
    JSON carries only subscriptions (a query is then answered as JSON).
    """

    kind: StreamKind
    preferred: bool


_JSON_TYPES = frozenset({APPLICATION_JSON, GRAPHQL_RESPONSE_JSON, "application/*", "*/*"})


def negotiate_stream(accept: str | None) -> StreamChoice | None:
    """The stream ``accept`` asks for, if any (wildcards never ask for one).

    ``multipart/mixed`` counts only with ``subscriptionSpec=1.0``: with
    ``deferSpec`` alone it asks for incremental delivery, which is not served.
    """
    json_seen = False
    for entry in parse_accept(accept):
        if entry.quality <= 0:
            continue
        kind = _stream_kind(entry)
        if kind is not None:
            return StreamChoice(kind, preferred=not json_seen)
        if entry.media_range in _JSON_TYPES:
            json_seen = True
    return None


def _stream_kind(entry: AcceptEntry) -> StreamKind | None:
    if entry.media_range == EVENT_STREAM:
        return StreamKind.SSE
    if (
        entry.media_range == MULTIPART_MIXED
        and entry.parameter("subscriptionspec") == SUBSCRIPTION_SPEC
    ):
        return StreamKind.MULTIPART
    return None


def accepts_text_plain(accept: str | None) -> bool:
    """Whether a text/plain body may answer (graphql-sse's reservation token)."""
    if accept is None or not accept.strip():
        return True
    return any(
        entry.quality > 0 and entry.media_range in ("text/plain", "text/*", "*/*")
        for entry in parse_accept(accept)
    )
