"""The SSE parser and the document events as the CLI reads them (pure)."""

import pytest
from texpipe_cli.errors import ServiceError
from texpipe_cli.models import parse_event
from texpipe_cli.outcome import event_line
from texpipe_cli.sse import SseEvent, SseParser


def feed(lines: list[str]) -> list[SseEvent]:
    parser = SseParser()
    return [event for line in lines if (event := parser.feed(line)) is not None]


def test_events_comments_and_multiline_data() -> None:
    events = feed(
        [": keepalive", "", "retry: 2000", "id: 7", "event: job", "data: {", "data: }", "",
         "data:plain", ""]
    )  # fmt: skip
    assert events == [SseEvent("7", "job", "{\n}"), SseEvent("7", "message", "plain")]


def test_an_event_needs_a_numeric_id_and_json_data() -> None:
    with pytest.raises(ServiceError):
        parse_event(None, "job", "{}")
    with pytest.raises(ServiceError):
        parse_event("3", "job", "not json")
    event = parse_event("3", "job", '{"revision": 2, "state": "applied", "pdf": {"pages": 4,'
                        ' "size": 10, "sha256": "x"}, "job_id": "j"}')  # fmt: skip
    assert (event.id, event.state, event.pages, event.size) == (3, "applied", 4, 10)


def test_watch_prints_a_compiling_job() -> None:
    event = parse_event("5", "job", '{"revision": 2, "state": "compiling", "job_id": "j"}')
    assert event_line(event) == "[5] job j revision 2: compiling"
