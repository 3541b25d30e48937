"""Turn a TeX log into the first error a user should see and the list of its diagnostics,
and make log text safe to show.

Pure functions over text. The log is read by ``tex_log`` (errors only at files TeX opened,
warnings and bad boxes at the file open at that point). Tectonic prints its errors located on
its own output, as ``error: main.tex:4: Undefined control sequence``; its log has them
unlocated.
"""

import re
from dataclasses import dataclass

from texpipe_contracts.errors import ErrorCode
from texpipe_contracts.v1 import MAX_DIAGNOSTICS, Severity

from texpipe_compiler.tex_log import MAX_MESSAGE_CHARS, LogEntry, normalise_file, scan_log

MAX_EXCERPT_CHARS = 4000
TECTONIC_EXCERPT_LINES = 10
"""Lines of tectonic's output shown after its error line."""
_PIECE_CHARS = 256 * 1024

_TECTONIC_ERROR = re.compile(r"^error: (?P<file>[^:\n]+?):(?P<line>\d{1,9}): (?P<message>.+)$")
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


def _code_for(message: str) -> ErrorCode:
    return ErrorCode.MISSING_FILE if _MISSING_FILE.search(message) else ErrorCode.LATEX_ERROR


@dataclass(frozen=True, slots=True)
class LogReport:
    """What a log says: its first error, and its diagnostics bounded to ``max_entries``
    (errors kept first, then warnings, then bad boxes; in log order), with how many more
    there were."""

    error: LatexError | None
    diagnostics: list[LogEntry]
    omitted: int


def _first_error(lines: list[str], entry: LogEntry) -> LatexError:
    excerpt = "\n".join(line.rstrip() for line in lines[entry.start : entry.end]).strip("\n")
    return LatexError(
        code=_code_for(entry.message),
        message=entry.message,
        file=entry.file,
        line=entry.line,
        excerpt=excerpt[:MAX_EXCERPT_CHARS],
    )


def parse_latex_log(text: str, max_entries: int = MAX_DIAGNOSTICS) -> LogReport:
    """The first error and the diagnostics of ``text`` (a sanitized log).

    Memory is bounded whatever the log's size: at most ``max_entries`` of each severity are
    held while the log is read.
    """
    lines = text.split("\n")
    kept: dict[Severity, list[LogEntry]] = {severity: [] for severity in Severity}
    first: LatexError | None = None
    total = 0
    for entry in scan_log(lines):
        total += 1
        if first is None and entry.severity is Severity.ERROR:
            first = _first_error(lines, entry)
        if len(kept[entry.severity]) < max_entries:
            kept[entry.severity].append(entry)
    chosen: list[LogEntry] = []
    for severity in (Severity.ERROR, Severity.WARNING, Severity.BADBOX):
        chosen += kept[severity][: max_entries - len(chosen)]
    chosen.sort(key=lambda entry: entry.start)
    return LogReport(first, chosen, total - len(chosen))


def parse_tectonic_output(text: str) -> LatexError | None:
    """The first ``error: file:line: message`` line tectonic printed (sanitized text)."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        found = _TECTONIC_ERROR.match(line)
        if found is not None:
            message = found.group("message").strip()[:MAX_MESSAGE_CHARS]
            return LatexError(
                code=_code_for(message),
                message=message,
                file=normalise_file(found.group("file")),
                line=int(found.group("line")),
                excerpt="\n".join(lines[index : index + 1 + TECTONIC_EXCERPT_LINES]).strip("\n")[
                    :MAX_EXCERPT_CHARS
                ],
            )
    return None


def log_tail(text: str, lines: int = 20) -> str:
    """The last lines of a log: the excerpt when TeX stopped without a recognisable error."""
    tail = "\n".join(text.rstrip("\n").split("\n")[-lines:])
    return tail[-MAX_EXCERPT_CHARS:]
