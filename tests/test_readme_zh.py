"""README.zh-CN.md is README.md in Simplified Chinese, and the two must not drift apart.

A translation drifts quietly: a snippet is fixed, a row added, a section split in one
file only. These tests compare what must be the same in both languages:

- the fenced code blocks, in order: info string and content, byte for byte (the Chinese
  README's snippets are README.md's, which ``tests/test_readme.py`` runs);
- the headings: the level of each, in order;
- the tables: in order, the same number of columns and of rows, each row with as many
  cells, and a cell with nothing to translate in README.md (codes, numbers, identifiers
  in backticks) the same in both, but for punctuation;
- the inline code spans of each section, as a set: identifiers are never translated;
- each file links to the other on its first line after the title, and every link to a
  file of the repository or to a heading resolves.

When README.md changes, change README.zh-CN.md in the same commit. The checks are plain
functions of two parsed texts; the last tests hand them edited copies of the Chinese
text (in memory, never the files) and make sure each kind of drift is caught.

The parser reads the Markdown these files use: fences of backticks or tildes with an
info string (at any indentation, so a fence inside a list item counts too), ATX and
setext headings, GFM tables (cells split at unescaped pipes) and code spans.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGLISH = ROOT / "README.md"
CHINESE = ROOT / "README.zh-CN.md"


# -- reading a README -----------------------------------------------------------------


@dataclass(frozen=True)
class Fence:
    start: int  # index of the opening fence's line
    end: int  # index of the closing fence's line (len(lines) if the text ends first)
    info: str
    code: str

    @property
    def language(self) -> str:
        return self.info.split()[0] if self.info else ""


@dataclass(frozen=True)
class Heading:
    line: int  # index of its (first) line
    level: int
    text: str


@dataclass(frozen=True)
class Table:
    line: int  # index of the header row's line
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    @property
    def shape(self) -> tuple[int, tuple[int, ...]]:
        """Columns, and the cells of each body row."""
        return len(self.header), tuple(len(row) for row in self.rows)


@dataclass
class Doc:
    name: str
    path: Path
    lines: list[str]
    fences: list[Fence] = field(default_factory=list)
    headings: list[Heading] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    # (section, text): each paragraph, heading and table row outside the fences, where
    # section n is the text after the n-th heading. Code spans never cross a chunk.
    chunks: list[tuple[int, str]] = field(default_factory=list)


_FENCE = re.compile(r"^([ \t]*)(`{3,}|~{3,})(.*)$")
_ATX = re.compile(r"^ {0,3}(#{1,6})([ \t].*)?$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_DELIMITER = re.compile(r"^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-+*]|\d{1,9}[.)])(?:[ \t]|$)")
_QUOTE = re.compile(r"^ {0,3}>")


def _opening(line: str) -> re.Match[str] | None:
    found = _FENCE.match(line)
    if found is None or (found[2][0] == "`" and "`" in found[3]):
        return None  # a backtick fence's info string may not hold a backtick
    return found


def _atx(line: str) -> str | None:
    found = _ATX.match(line)
    if found is None:
        return None
    text = re.sub(r"(?:^|[ \t]+)#+[ \t]*$", "", (found[2] or "").strip())  # closing #s
    return found[1] + " " + text.strip()


def cells(row: str) -> tuple[str, ...]:
    row = row.strip()
    row = row.removeprefix("|")
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    return tuple(cell.strip() for cell in re.split(r"(?<!\\)\|", row))


def _is_table(lines: list[str], index: int) -> bool:
    if index + 1 >= len(lines) or "|" not in lines[index]:
        return False
    delimiter = lines[index + 1]
    return (
        "|" in delimiter
        and _DELIMITER.match(delimiter) is not None
        and len(cells(delimiter)) == len(cells(lines[index]))
    )


def _ends_block(line: str) -> bool:
    return not line.strip() or bool(_atx(line) or _opening(line) or _QUOTE.match(line))


def parse(path: Path, text: str | None = None) -> Doc:
    if text is None:
        text = path.read_text("utf-8")
    doc = Doc(path.name, path, text.split("\n"))
    lines = doc.lines
    paragraph: list[str] = []
    plain = False  # the open paragraph is a top-level one: a setext underline may follow

    def flush() -> None:
        if paragraph:
            doc.chunks.append((len(doc.headings), "\n".join(paragraph)))
            paragraph.clear()

    index = 0
    while index < len(lines):
        line = lines[index]
        opening = _opening(line)
        if opening is not None:
            flush()
            indent, fence = len(opening[1].expandtabs(4)), opening[2]
            closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
            end = index + 1
            while end < len(lines) and not closing.match(lines[end]):
                end += 1
            body = [re.sub(rf"^ {{0,{indent}}}", "", text) for text in lines[index + 1 : end]]
            code = "".join(text + "\n" for text in body)
            doc.fences.append(Fence(index, end, opening[3].strip(), code))
            index = end + 1
            continue
        if not line.strip():
            flush()
            index += 1
            continue
        atx = _atx(line)
        if atx is not None:
            flush()
            marks, _, text = atx.partition(" ")
            doc.headings.append(Heading(index, len(marks), text))
            doc.chunks.append((len(doc.headings), text))
            index += 1
            continue
        underline = _SETEXT.match(line)
        if underline is not None and paragraph and plain:
            text = " ".join(part.strip() for part in paragraph)
            level = 1 if underline[1][0] == "=" else 2
            doc.headings.append(Heading(index - len(paragraph), level, text))
            doc.chunks.append((len(doc.headings), text))
            paragraph.clear()
            index += 1
            continue
        if _is_table(lines, index):
            flush()
            header, rows, end = cells(line), [], index + 2
            doc.chunks.append((len(doc.headings), line))
            while end < len(lines) and not _ends_block(lines[end]):
                rows.append(cells(lines[end]))
                doc.chunks.append((len(doc.headings), lines[end]))
                end += 1
            doc.tables.append(Table(index, header, tuple(rows)))
            index = end
            continue
        if not paragraph:
            plain = not (_LIST_ITEM.match(line) or _QUOTE.match(line))
        elif _LIST_ITEM.match(line):
            plain = False
        paragraph.append(line)
        index += 1
    flush()
    return doc


def _spans(text: str) -> list[tuple[int, int, str]]:
    """Each code span of one chunk: where it starts and ends, and its content normalised
    as CommonMark does (line ends are spaces, one space each side stripped)."""
    found = []
    position = 0
    while (run := re.compile(r"(?<![\\`])`+").search(text, position)) is not None:
        ticks = run.group()
        close = re.compile(rf"(?<!`){ticks}(?!`)").search(text, run.end())
        if close is None:
            position = run.end()
            continue
        content = text[run.end() : close.start()].replace("\n", " ")
        if len(content) > 2 and content[0] == content[-1] == " " and content.strip():
            content = content[1:-1]
        found.append((run.start(), close.end(), content))
        position = close.end()
    return found


def code_spans(text: str) -> list[str]:
    return [content for _, _, content in _spans(text)]


def without_code_spans(text: str) -> str:
    for start, end, _ in reversed(_spans(text)):
        text = text[:start] + text[end:]
    return text


_LINK = re.compile(r"\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)


def links(doc: Doc) -> list[str]:
    found = []
    for _, chunk in doc.chunks:
        text = without_code_spans(chunk)
        found += [target for _, target in _LINK.findall(text)]
        found += _DEFINITION.findall(text)
    return found


def slugs(doc: Doc) -> set[str]:
    """The anchors GitHub gives the headings (Unicode letters such as Chinese stay)."""
    made: set[str] = set()
    for heading in doc.headings:
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.text)
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        candidate, number = slug, 0
        while candidate in made:
            number += 1
            candidate = f"{slug}-{number}"
        made.add(candidate)
    return made


# -- the checks: each returns what is out of step, nothing when in step ---------------


def fence_drift(en: Doc, zh: Doc) -> list[str]:
    """The fenced code blocks, in order: info string and code, byte for byte."""
    ours = [(f.info, f.code) for f in en.fences]
    theirs = [(f.info, f.code) for f in zh.fences]
    problems = []
    matcher = difflib.SequenceMatcher(None, ours, theirs, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        for a, b in zip_longest(en.fences[i1:i2], zh.fences[j1:j2]):
            if b is None:
                problems.append(f"{en.name} line {a.start + 1}: a block {zh.name} lacks")
            elif a is None:
                problems.append(f"{zh.name} line {b.start + 1}: a block {en.name} lacks")
            else:
                where = f"{en.name} line {a.start + 1} / {zh.name} line {b.start + 1}"
                if a.info != b.info:
                    problems.append(f"{where}: info string {a.info!r} / {b.info!r}")
                if a.code != b.code:
                    diff = difflib.unified_diff(
                        a.code.splitlines(), b.code.splitlines(), en.name, zh.name, lineterm=""
                    )
                    problems.append(f"{where}: the code differs\n" + "\n".join(diff))
    return problems


def heading_drift(en: Doc, zh: Doc) -> list[str]:
    """The level of each heading, in order."""
    if [h.level for h in en.headings] == [h.level for h in zh.headings]:
        return []
    outline = []
    for number, (a, b) in enumerate(zip_longest(en.headings, zh.headings), 1):
        left = f"{'#' * a.level} {a.text} (line {a.line + 1})" if a else "-"
        right = f"{'#' * b.level} {b.text} (line {b.line + 1})" if b else "-"
        mark = "  " if a and b and a.level == b.level else "!!"
        outline.append(f"{mark} {number:3d}  {left}  |  {right}")
    return [f"the headings of {en.name} | {zh.name} differ in level or number:", *outline]


def _verbatim(cell: str) -> bool:
    """A cell with nothing to translate: only code spans, numbers, signs."""
    return re.search(r"[A-Za-z]", without_code_spans(cell)) is None


def _essence(cell: str) -> tuple[list[str], str]:
    """Its code spans and the letters and digits around them: punctuation and spacing
    may follow the language (full-width brackets around code in Chinese)."""
    return code_spans(cell), re.sub(r"[\W_]", "", without_code_spans(cell))


def table_drift(en: Doc, zh: Doc) -> list[str]:
    """The tables, in order: columns, rows, cells per row, the untranslatable cells."""
    problems = []
    if len(en.tables) != len(zh.tables):
        problems.append(f"{en.name} has {len(en.tables)} tables, {zh.name} {len(zh.tables)}")
    for number, (a, b) in enumerate(zip(en.tables, zh.tables, strict=False), 1):
        where = f"table {number} ({en.name} line {a.line + 1} / {zh.name} line {b.line + 1})"
        if a.shape != b.shape:
            problems.append(
                f"{where}: {a.shape[0]} columns and {len(a.rows)} rows {a.shape[1]} / "
                f"{b.shape[0]} columns and {len(b.rows)} rows {b.shape[1]}"
            )
            continue
        for row, (ours, theirs) in enumerate(
            zip((a.header, *a.rows), (b.header, *b.rows), strict=True)
        ):
            for column, (cell, other) in enumerate(zip(ours, theirs, strict=True), 1):
                if _verbatim(cell) and _essence(cell) != _essence(other):
                    problems.append(f"{where}, row {row}, column {column}: {cell!r} / {other!r}")
    return problems


def code_span_drift(en: Doc, zh: Doc) -> list[str]:
    """The set of inline code spans of each section (run after the headings agree)."""
    if len(en.headings) != len(zh.headings):
        return [f"{en.name} has {len(en.headings)} headings, {zh.name} {len(zh.headings)}"]
    sections = len(en.headings) + 1
    ours: list[set[str]] = [set() for _ in range(sections)]
    theirs: list[set[str]] = [set() for _ in range(sections)]
    for doc, spans in ((en, ours), (zh, theirs)):
        for section, chunk in doc.chunks:
            spans[section].update(code_spans(chunk))
    problems = []
    for section, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if a != b:
            title = en.headings[section - 1].text if section else "(before the first heading)"
            problems.append(
                f"section {title!r}: only in {en.name}: {sorted(a - b)}; "
                f"only in {zh.name}: {sorted(b - a)}"
            )
    return problems


def switch_drift(doc: Doc, other: str) -> list[str]:
    """The first line after the title links to the other README."""
    if not doc.headings or doc.headings[0].level != 1:
        return [f"{doc.name} does not start with its title"]
    after = doc.headings[0].line + 1
    first = next((line for line in doc.lines[after:] if line.strip()), "")
    if other not in [target.removeprefix("./") for _, target in _LINK.findall(first)]:
        return [f"{doc.name}: the line after the title, {first!r}, does not link to {other}"]
    return []


def link_drift(doc: Doc) -> list[str]:
    """Every link into the repository names a file that exists, and a heading that does."""
    problems = []
    for target in links(doc):
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        file = (doc.path.parent / path).resolve() if path else doc.path
        if not file.exists():
            problems.append(f"{doc.name}: ({target}) names no file")
        elif anchor and file.suffix == ".md":
            other = doc if file == doc.path else parse(file)
            if anchor not in slugs(other):
                problems.append(f"{doc.name}: ({target}) names no heading of {file.name}")
    return problems


# -- the two READMEs ------------------------------------------------------------------


@pytest.fixture(scope="module")
def en() -> Doc:
    return parse(ENGLISH)


@pytest.fixture(scope="module")
def zh() -> Doc:
    assert CHINESE.exists(), f"{CHINESE.name} is missing: it is README.md in Chinese"
    return parse(CHINESE)


def in_step(problems: list[str]) -> None:
    if problems:
        pytest.fail(
            "README.zh-CN.md is out of step with README.md: change both in one commit\n"
            + "\n".join(problems),
            pytrace=False,
        )


def test_code_blocks_are_identical(en: Doc, zh: Doc) -> None:
    assert en.fences, "no fenced block found in README.md"
    in_step(fence_drift(en, zh))


def test_headings_have_the_same_levels(en: Doc, zh: Doc) -> None:
    in_step(heading_drift(en, zh))


def test_tables_have_the_same_shape(en: Doc, zh: Doc) -> None:
    assert en.tables, "no table found in README.md"
    in_step(table_drift(en, zh))


def test_sections_name_the_same_identifiers(en: Doc, zh: Doc) -> None:
    in_step(code_span_drift(en, zh))


def test_each_links_to_the_other_at_its_top(en: Doc, zh: Doc) -> None:
    in_step(switch_drift(en, CHINESE.name) + switch_drift(zh, ENGLISH.name))
    assert en.headings[0].text == zh.headings[0].text  # the same title


def test_links_resolve(en: Doc, zh: Doc) -> None:
    in_step(link_drift(en) + link_drift(zh))


# -- the checks catch drift -----------------------------------------------------------


def _edit(doc: Doc, index: int, line: str) -> str:
    return "\n".join([*doc.lines[:index], line, *doc.lines[index + 1 :]])


def _drop(doc: Doc, start: int, end: int) -> str:
    return "\n".join(doc.lines[:start] + doc.lines[end:])


def _edit_code(doc: Doc) -> str:
    fence = next(f for f in doc.fences if f.code.strip())
    return _edit(doc, fence.start + 1, doc.lines[fence.start + 1] + "  # edited")


def _change_language(doc: Doc) -> str:
    fence = next(f for f in doc.fences if f.info)
    line = doc.lines[fence.start]
    return _edit(doc, fence.start, line[: line.index(fence.info)] + "text")


def _drop_block(doc: Doc) -> str:
    fence = doc.fences[-1]
    return _drop(doc, fence.start, fence.end + 1)


def _swap_blocks(doc: Doc) -> str:
    a, b = doc.fences[0], next(f for f in doc.fences[1:] if f.code != doc.fences[0].code)
    lines = doc.lines
    return "\n".join(
        lines[: a.start]
        + lines[b.start : b.end + 1]
        + lines[a.end + 1 : b.start]
        + lines[a.start : a.end + 1]
        + lines[b.end + 1 :]
    )


def _demote_heading(doc: Doc) -> str:
    heading = doc.headings[-1]
    return _edit(doc, heading.line, "#" * (heading.level + 1) + " " + heading.text)


def _drop_heading(doc: Doc) -> str:
    return _drop(doc, doc.headings[1].line, doc.headings[1].line + 1)


def _drop_row(doc: Doc) -> str:
    table = doc.tables[0]
    last = table.line + 1 + len(table.rows)
    return _drop(doc, last, last + 1)


def _add_column(doc: Doc) -> str:
    row = doc.tables[-1].line + 2
    return _edit(doc, row, doc.lines[row].rstrip().rstrip("|") + "| 多出的一列 |")


def _edit_verbatim_cell(doc: Doc) -> str:
    for table in doc.tables:
        for offset, row in enumerate(table.rows):
            for cell in row:
                if _verbatim(cell) and re.search(r"[`0-9]", cell):
                    index = table.line + 2 + offset
                    return _edit(doc, index, doc.lines[index].replace(cell, cell + "0", 1))
    raise AssertionError("no verbatim cell")


def _untick_identifier(doc: Doc) -> str:
    for section, chunk in doc.chunks:
        spans = [s for n, c in doc.chunks if n == section for s in code_spans(c)]
        for span in code_spans(chunk):
            if spans.count(span) == 1 and f"`{span}`" in chunk and "\n" not in chunk:
                index = doc.lines.index(chunk)
                return _edit(doc, index, chunk.replace(f"`{span}`", span, 1))
    raise AssertionError("no single-line chunk with an identifier of its own")


def _drop_switch(doc: Doc) -> str:
    index = next(i for i in range(doc.headings[0].line + 1, len(doc.lines)) if doc.lines[i])
    return _drop(doc, index, index + 1)


def _dead_links(doc: Doc) -> str:
    return "\n".join([*doc.lines, "", "[一](#no-such-heading) [二](docs/no-such-file.md)", ""])


Check = Callable[[Doc, Doc], list[str]]
DRIFTS: dict[str, tuple[Callable[[Doc], str], Check]] = {
    "code-edited": (_edit_code, fence_drift),
    "language-changed": (_change_language, fence_drift),
    "block-dropped": (_drop_block, fence_drift),
    "blocks-swapped": (_swap_blocks, fence_drift),
    "heading-demoted": (_demote_heading, heading_drift),
    "heading-dropped": (_drop_heading, heading_drift),
    "row-dropped": (_drop_row, table_drift),
    "column-added": (_add_column, table_drift),
    "code-cell-edited": (_edit_verbatim_cell, table_drift),
    "identifier-untranslated-away": (_untick_identifier, code_span_drift),
    "switch-dropped": (_drop_switch, lambda en, zh: switch_drift(zh, ENGLISH.name)),
    "dead-links": (_dead_links, lambda en, zh: link_drift(zh)),
}


@pytest.mark.parametrize("drift", DRIFTS)
def test_drift_is_caught(drift: str, en: Doc, zh: Doc) -> None:
    edit, check = DRIFTS[drift]
    if check(en, zh):
        pytest.skip("the READMEs are out of step already: see the tests above")
    text = edit(zh)
    assert text != "\n".join(zh.lines), "the edit changed nothing"
    assert check(en, parse(CHINESE, text)), f"{drift} in {CHINESE.name} alone went unnoticed"


def test_fence_style_is_not_drift(en: Doc) -> None:
    """A block fenced with ~~~~ or four backticks in one file holds the same code."""
    fence = next(f for f in en.fences if "\n" in f.code.rstrip("\n"))
    lines = list(en.lines)
    lines[fence.start] = "~~~~ " + fence.info
    lines[fence.end] = "~~~~"
    assert not fence_drift(en, parse(ENGLISH, "\n".join(lines)))
    lines[fence.start], lines[fence.end] = "````" + fence.info, "`````"
    assert not fence_drift(en, parse(ENGLISH, "\n".join(lines)))


def test_parser_reads_fences_headings_and_tables() -> None:
    text = "\n".join(
        [
            "Title",
            "=====",
            "",
            "~~~ python title=x.py",
            "```",
            "# not a heading",
            "| a | b |",
            "|---|---|",
            "~~~",
            "",
            "````md",
            "```sh",
            "```",
            "````",
            "",
            "## Table `one` ##",
            "",
            "| `a \\| b` | c |",
            "|:--|--:|",
            "| 1 | `x` |",
            "| 2 |",
            "",
            "- item",
            "---",
            "",
            "  ```ini",
            "  k = v",
            "  ```",
            "```text",
        ]
    )
    doc = parse(Path("sample.md"), text)
    assert [(f.info, f.code) for f in doc.fences] == [
        ("python title=x.py", "```\n# not a heading\n| a | b |\n|---|---|\n"),
        ("md", "```sh\n```\n"),
        ("ini", "k = v\n"),
        ("text", ""),  # unclosed: it runs to the end
    ]
    assert [f.language for f in doc.fences] == ["python", "md", "ini", "text"]
    assert [(h.level, h.text) for h in doc.headings] == [(1, "Title"), (2, "Table `one`")]
    assert [(t.header, t.rows) for t in doc.tables] == [
        (("`a \\| b`", "c"), (("1", "`x`"), ("2",)))
    ]
    assert doc.tables[0].shape == (2, (2, 1))
    assert code_spans("`a` and ``b ` c`` and ` d `\nand `e\nf`") == ["a", "b ` c", "d", "e f"]
    assert slugs(parse(Path("s.md"), "# A `b`: C\n## 逐字段，看\n## A b C")) == {
        "a-b-c",
        "逐字段看",
        "a-b-c-1",
    }
