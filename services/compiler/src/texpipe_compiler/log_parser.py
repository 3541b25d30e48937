"""Turn a TeX log into the first error a user should see, and make log text safe to show.

Pure functions over text. Engines run with ``-file-line-error`` and a wide
``max_print_line``, so an error reads ``./main.tex:4: Undefined control sequence.``; errors
TeX reports without a location (``! Emergency stop.``) are found by their ``!`` prefix.
"""

import re
from dataclasses import dataclass

from texpipe_contracts.errors import ErrorCode

MAX_MESSAGE_CHARS = 500
MAX_EXCERPT_CHARS = 4000
EXCERPT_LINES_AFTER = 10
_PIECE_CHARS = 256 * 1024

_FILE_LINE_ERROR = re.compile(
    r"^(?:error: )?(?P<file>[^\s:()][^:\n]*?):(?P<line>\d{1,9}): (?P<message>.+)$"
)
_BANG_ERROR = re.compile(r"^! (?P<message>.+)$")
_CONTEXT_LINE = re.compile(r"^l\.(?P<line>\d{1,9})\b")
_MISSING_FILE = re.compile(
    r"File `[^']*' not found|I can't find file|can't find file|File .* not found|"
    r"Cannot find file|not loadable: metric data not found"
)
# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-byte ESC sequences.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
# C0 controls but tab and newline, DEL, C1 controls, every bidi control (marks, embeddings,
# overrides, isolates: Unicode's Bidi_Control property) and the line/paragraph separators.
_CONTROLS = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


@dataclass(frozen=True, slots=True)
class LatexError:
    """The first error of a compile."""

    code: ErrorCode
    message: str
    file: str | None
    line: int | None
    excerpt: str


def sanitize_text(raw: bytes | str) -> str:
    """Log text without terminal control sequences (safe for a terminal or a web page).

    Piece by piece: one regex call holds the GIL for its whole input, and a log is as large
    as the document made it. A sequence cut at a piece's edge leaves printable characters
    behind, never a control character (``_CONTROLS`` removes every one, ESC included).
    CRLF becomes LF; a lone CR becomes a space, so that what a document prints after one
    (a forged ``main.tex:1: ...``) can never start a line the log parser reads.
    """
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    text = text.replace("\r\n", "\n").replace("\r", " ")
    return "".join(
        _CONTROLS.sub("", _ANSI.sub("", text[start : start + _PIECE_CHARS]))
        for start in range(0, len(text), _PIECE_CHARS)
    )


def _normalise_file(name: str) -> str:
    return name[2:] if name.startswith("./") else name


def _code_for(message: str) -> ErrorCode:
    return ErrorCode.MISSING_FILE if _MISSING_FILE.search(message) else ErrorCode.LATEX_ERROR


def _excerpt(lines: list[str], start: int) -> tuple[str, int | None]:
    """The error line and its context up to TeX's ``l.<n>`` line (plus the one after)."""
    end = min(len(lines), start + 1 + EXCERPT_LINES_AFTER)
    context_line: int | None = None
    for index in range(start + 1, end):
        match = _CONTEXT_LINE.match(lines[index])
        if match:
            context_line = int(match.group("line"))
            end = min(len(lines), index + 2)
            break
    text = "\n".join(line.rstrip() for line in lines[start:end]).strip("\n")
    return text[:MAX_EXCERPT_CHARS], context_line


def parse_latex_log(text: str) -> LatexError | None:
    """The first error in ``text`` (a sanitized log), or None when it holds no error."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        located = _FILE_LINE_ERROR.match(line)
        if located:
            message = located.group("message").strip()
            excerpt, _ = _excerpt(lines, index)
            return LatexError(
                code=_code_for(message),
                message=message[:MAX_MESSAGE_CHARS],
                file=_normalise_file(located.group("file"))[:1024],
                line=int(located.group("line")),
                excerpt=excerpt,
            )
        bang = _BANG_ERROR.match(line)
        if bang:
            message = bang.group("message").strip()
            excerpt, context_line = _excerpt(lines, index)
            file, line_no = _location_after(lines, index)
            return LatexError(
                code=_code_for(message),
                message=message[:MAX_MESSAGE_CHARS],
                file=file,
                line=context_line if context_line is not None else line_no,
                excerpt=excerpt,
            )
    return None


def _location_after(lines: list[str], start: int) -> tuple[str | None, int | None]:
    """An unlocated error (``! LaTeX Error: File ... not found``) is often followed by TeX's
    located ``./main.tex:3: Emergency stop.``: take the file from there."""
    for line in lines[start + 1 : start + 1 + EXCERPT_LINES_AFTER]:
        located = _FILE_LINE_ERROR.match(line)
        if located:
            return _normalise_file(located.group("file"))[:1024], int(located.group("line"))
    return None, None


def log_tail(text: str, lines: int = 20) -> str:
    """The last lines of a log: the excerpt when TeX stopped without a recognisable error."""
    tail = "\n".join(text.rstrip("\n").split("\n")[-lines:])
    return tail[-MAX_EXCERPT_CHARS:]
