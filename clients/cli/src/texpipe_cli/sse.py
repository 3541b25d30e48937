"""Server-Sent Events as the api sends them, parsed line by line (pure).

An event is ``id:``, ``event:`` and ``data:`` lines ended by a blank line; lines starting with
``:`` are comments (the api's heartbeats) and ``retry:`` says how long to wait before a
reconnect. A ``data`` split over several lines is joined with newlines, as the SSE
specification says.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One event: its id (to resume after), its type and its data (text)."""

    id: str | None
    event: str
    data: str


class SseParser:
    """Feed it lines (without their line ending); it returns each event as it completes."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._event = ""
        self._data: list[str] = []
        self.retry_ms: int | None = None

    def feed(self, line: str) -> SseEvent | None:
        """The event this blank line completes, else None."""
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = SseEvent(self._id, self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None
