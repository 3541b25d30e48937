"""Read a TeX log as an editor's log panel does: errors, warnings and bad boxes with their
file and line (pure).

The engines run with ``-file-line-error`` and ``max_print_line=10000`` (latex_commands.py), so
an error reads ``./chapters/intro.tex:12: Undefined control sequence.`` and lines are not
wrapped. A ``name:line:`` line is an error only when ``name`` is a file TeX opened: TeX
prints ``(`` and the file's name when it opens one and ``)`` when it closes it, and this
module follows that stack. Anything else shaped like ``name:12:`` is text the document made
TeX print (an overfull box shows its typeset words, ``\\typeout`` prints anything).

Where TeX gives no file (warnings say ``on input line N``, bad boxes ``at lines N--M``),
the file is the innermost one open at that point of the log. Text the document controls is
kept out of the stack: the box contents shown after a bad box, and the context and help
lines after an error; a ``(`` that opens no file is matched by the next ``)``, so balanced
parentheses in messages leave the stack as it was.

Sources of the shapes: tex.web (``start_input`` prints ``(`` and the name, with a space
before it unless at the start of a line; ``print_file_line`` with ``-file-line-error``;
``show_context`` ends with the ``l.N`` line; the help after it ends with an empty line),
LaTeX's ``\\GenericWarning`` (a continuation line starts with ``(package)``) and the logs of
TeX Live 2022 in tests/unit/tex_logs. pdfTeX and XeTeX print a name with spaces as is
(``(./chapters/chapter one.tex``), LuaTeX quotes it (``("./chapters/chapter one.tex"``):
both are read.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from texpipe_contracts.v1 import Severity

MAX_MESSAGE_CHARS = 500
MAX_FILE_CHARS = 1024
ERROR_CONTEXT_LINES = 40
"""How far after an error line its ``l.N`` context line is looked for. All errors together
look at no more than twice the log's lines: a log made of error-shaped lines stays linear."""
SKIPPED_BLOCK_LINES = 60
"""How many lines of box contents or error help are passed over at most (an empty line ends
them sooner; with ``max_print_line=10000`` a box shows in a line or two)."""
MAX_DEPTH = 1000
"""Parentheses followed as a stack; deeper ones are only counted (TeX nests few files)."""
MAX_OPENED = 100_000
"""File names remembered as opened (a book of 2148 files opens a few thousand in all)."""
CONTINUATION_LINES = 20
"""How many ``(package)  ...`` lines a warning's message takes at most."""

# A name TeX prints after "(" : quoted, or a path (./x, ../x, /x), or a bare name with a TeX
# extension (engines that print names without "./").
_INPUT_EXTENSIONS = (
    r"tex|ltx|sty|cls|clo|cfg|def|fd|ldf|dfu|aux|toc|lof|lot|bbl|ind|gls|nls|acr|out|nav|snm|"
    r"vrb|lua|mkii|mkiv|pgf|dtx|ins"
)
_PATH_START = re.compile(r'"|\.{0,2}/')
_BARE_NAME = re.compile(rf"[^\s()\"]+\.(?:{_INPUT_EXTENSIONS})(?=[\s()]|$)")
# The shortest prefix ending in an extension that is followed by a space or the end: what
# comes after a name on its line is TeX's next output (a message, " [1]", " (" ...).
_NAME_WITH_TEX_EXTENSION = re.compile(rf"\S.*?\.(?:{_INPUT_EXTENSIONS})(?=\s|$)")
_NAME_WITH_EXTENSION = re.compile(r"\S.*?\.[A-Za-z0-9_-]{1,16}(?=\s|$)")
_NAME_WITHOUT_EXTENSION = re.compile(r"\S+")
_PARENS = re.compile(r"[()]")
_NOT_A_NAME_START = frozenset("() \t[]{}<>")

_BADBOX = re.compile(
    r"^(?:Overfull|Underfull) \\[hv]box \([^)\n]*\) "
    r"(?:(?:in paragraph|in alignment) at lines (?P<first>\d{1,9})--\d{1,9}|"
    r"detected at line (?P<at>\d{1,9})|has occurred while \\output is active)"
)
_WARNING = re.compile(
    r"^(?:LaTeX(?: Font)? Warning: |"
    r"(?:Package|Class|Module) (?P<package>\S+) Warning: |"
    r"(?P<engine>(?:pdfTeX|XeTeX|LuaTeX|luaotfload) warning(?: \([^)\n]*\))?: ))"
    r"(?P<message>.*)$"
)
_MISSING_CHARACTER = re.compile(r"^Missing character: There is no .* in font .*!$")
_CONTINUATION = re.compile(r"^\([^()\s]{1,64}\)\s+(?P<text>\S.*)$|^ {8,}(?P<indented>\S.*)$")
_ON_INPUT_LINE = re.compile(r"on input line (\d{1,9})")
_LOCATED = re.compile(r":(\d{1,9}): ")
_BANG = re.compile(r"^! (?P<message>.+)$")
_CONTEXT_LINE = re.compile(r"^l\.(?P<line>\d{1,9})(?: |$)")
_FATAL_SUMMARY = "==> Fatal error occurred"
_EMERGENCY_STOP = "Emergency stop."


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One error, warning or bad box, where the log has it (``start``..``end`` line indexes)."""

    severity: Severity
    file: str | None
    line: int | None
    message: str
    start: int
    end: int


@dataclass(slots=True)
class _FileStack:
    """The files TeX has open, as the log shows them.

    ``open`` holds, for each ``(`` not yet closed, the innermost file at that depth (a ``(``
    that opened no file repeats its parent), so the current file is the last element. A
    document can print any number of parentheses: past ``MAX_DEPTH`` only a count is kept,
    and ``opened`` stops growing at ``MAX_OPENED`` names (TeX itself nests at most a few
    dozen files, and a large book opens a few thousand).
    """

    open: list[str | None] = field(default_factory=list)
    overflow: int = 0
    opened: set[str] = field(default_factory=set)

    def current(self) -> str | None:
        return self.open[-1] if self.open else None

    def follow(self, line: str) -> None:
        """Push and pop for every ``(`` and ``)`` of an ordinary log line."""
        if "(" not in line and ")" not in line:
            return
        position = 0
        while (found := _PARENS.search(line, position)) is not None:
            if found.group() == ")":
                if self.overflow:
                    self.overflow -= 1
                elif self.open:
                    self.open.pop()
                position = found.end()
                continue
            name, position = _file_name_at(line, found.end())
            if name is not None:
                name = normalise_file(name)
                if len(self.opened) < MAX_OPENED:
                    self.opened.add(name)
            if len(self.open) >= MAX_DEPTH:
                self.overflow += 1
            else:
                self.open.append(name if name is not None else self.current())


def normalise_file(name: str) -> str:
    """A file name as reported: without TeX's leading ``./``, bounded in length."""
    return (name[2:] if name.startswith("./") else name)[:MAX_FILE_CHARS]


def _file_name_at(line: str, start: int) -> tuple[str | None, int]:
    """(the file name starting at ``start`` or None, where scanning goes on)."""
    if start >= len(line) or line[start] in _NOT_A_NAME_START:
        return None, start
    if line.startswith('"', start):
        close = line.find('"', start + 1)
        if close > start + 1:
            return line[start + 1 : close], close + 1
        return None, start
    if _PATH_START.match(line, start) is None:
        bare = _BARE_NAME.match(line, start)
        return (bare.group(), bare.end()) if bare else (None, start)
    stop = _PARENS.search(line, start)
    rest = line[start : stop.start() if stop else len(line)]
    for pattern in (_NAME_WITH_TEX_EXTENSION, _NAME_WITH_EXTENSION, _NAME_WITHOUT_EXTENSION):
        named = pattern.match(rest)
        if named is not None:
            return named.group(), start + named.end()
    return None, start


def _located(line: str, opened: set[str]) -> tuple[str, int, str] | None:
    """(file, line, message) when ``line`` is ``file:N: message`` for a file TeX opened."""
    if ":" not in line:
        return None
    for found in _LOCATED.finditer(line):
        name = normalise_file(line[: found.start()])
        if name in opened:
            return name, int(found.group(1)), line[found.end() :].strip()
    return None


def _skip_block(lines: list[str], index: int) -> int:
    """The index after the lines from ``index`` up to an empty line (bounded)."""
    end = min(len(lines), index + SKIPPED_BLOCK_LINES)
    while index < end and lines[index].strip():
        index += 1
    return index


_Found = tuple[LogEntry | None, int]
"""What a log line starts: an entry (None: a line to pass over) and where scanning resumes."""


class _Scanner:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.files = _FileStack()
        self.lookahead_budget = 2 * len(lines)

    def entries(self) -> Iterator[LogEntry]:
        index = 0
        while index < len(self.lines):
            line = self.lines[index]
            found = self._entry_at(line, index)
            if found is None:
                self.files.follow(line)
                index += 1
                continue
            entry, index = found
            if entry is not None:
                yield entry

    def _entry_at(self, line: str, index: int) -> _Found | None:
        if line.startswith(("Overfull", "Underfull")):
            box = _BADBOX.match(line)
            if box is not None:
                number = box.group("first") or box.group("at")
                message = line.removesuffix("[]").strip()
                line_number = int(number) if number else None
                entry = self._entry(Severity.BADBOX, line_number, message, index, index + 1)
                # The box's contents follow: typeset text, kept out of the file stack.
                return entry, _skip_block(self.lines, index + 1)
        warning = _WARNING.match(line) if "arning" in line else None
        if warning is not None:
            return self._warning(warning, index)
        if line.startswith("Missing character:") and _MISSING_CHARACTER.match(line):
            return self._entry(Severity.WARNING, None, line, index, index + 1), index + 1
        if line.startswith("! "):
            bang = _BANG.match(line)
            if bang is not None:
                return self._error(index, bang.group("message").strip(), None)
        located = _located(line, self.files.opened)
        if located is not None:
            name, number, message = located
            if message.startswith(_FATAL_SUMMARY):  # TeX's closing summary, not an error
                return None, index + 1
            return self._error(index, message, (name, number))
        return None

    def _entry(
        self, severity: Severity, line: int | None, message: str, start: int, end: int
    ) -> LogEntry:
        file = self.files.current()
        return LogEntry(severity, file, line, message[:MAX_MESSAGE_CHARS], start, end)

    def _warning(self, found: re.Match[str], index: int) -> _Found:
        parts = [found.group("message").strip()]
        end = index + 1
        limit = min(len(self.lines), end + CONTINUATION_LINES)
        while end < limit and (more := _CONTINUATION.match(self.lines[end])) is not None:
            parts.append((more.group("text") or more.group("indented")).strip())
            end += 1
        message = " ".join(part for part in parts if part)
        package = found.group("package")
        if package:
            message = f"{package}: {message}"
        elif found.group("engine"):
            message = f"{found.group('engine').strip()} {message}"
        on_line = _ON_INPUT_LINE.search(message)
        number = int(on_line.group(1)) if on_line else None
        return self._entry(Severity.WARNING, number, message, index, end), end

    def _error(self, index: int, message: str, where: tuple[str, int] | None) -> _Found:
        """An error and its block: the context up to ``l.N`` and the line after it, then
        the help text up to an empty line.

        An unlocated error (``! LaTeX Error: File ... not found.``) takes its file from a
        located ``Emergency stop.`` inside the block, else from the stack, and its line from
        ``l.N``.
        """
        file, number = where if where is not None else (None, None)
        end = resume = index + 1
        limit = min(len(self.lines), index + 1 + ERROR_CONTEXT_LINES)
        for probe in range(index + 1, limit):
            if self.lookahead_budget <= 0:
                break
            self.lookahead_budget -= 1
            text = self.lines[probe]
            context = _CONTEXT_LINE.match(text)
            if context is not None:
                if where is None:
                    number = int(context.group("line"))
                end = min(len(self.lines), probe + 2)
                resume = _skip_block(self.lines, end)
                break
            if text.startswith("! "):
                break
            inner = _located(text, self.files.opened)
            if inner is not None:
                if inner[2] != _EMERGENCY_STOP or where is not None:
                    break  # another error: the block had no context
                file, number = file or inner[0], number or inner[1]
        entry = LogEntry(
            Severity.ERROR,
            file or self.files.current(),
            number,
            message[:MAX_MESSAGE_CHARS],
            index,
            end,
        )
        return entry, resume


def scan_log(lines: list[str]) -> Iterator[LogEntry]:
    """Every error, warning and bad box of a sanitized log's ``lines``, in log order."""
    return _Scanner(lines).entries()
