"""`kind: documents` — a folder of .txt, .md and .html files, one record per file.

Configuration (refinery.yml)::

    handbook:
      kind: documents
      path: seeds/sample/documents          # a folder, read recursively
      extensions: [.txt, .md, .html, .htm]  # optional (this is the default)

One stream, `documents`, landed as `raw.<source>__documents`. A record is
`{path, title, mime_type, bytes, sha256, modified_at, text}` with `path` relative to the
folder. HTML is reduced to its main text: scripts, styles, navigation, headers, footers
and sidebars are removed — elements such as <nav> and <footer>, and elements whose class or
id is exactly a boilerplate word (`sidebar`, `footer`, …; `has-sidebar` is not) or whose
role is a landmark such as `navigation`. <html>, <body>, <main> and <article> are never
removed. A file that is not valid UTF-8 or has another extension is quarantined with its
reason and bytes; an unreadable file is quarantined with the reason and read again on the
next run; the rest of the folder still lands. Incremental by file size and modification
time. (PDF and DOCX come with the ingestion issue.)
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

from ingestion.config import SourceConfig
from ingestion.destination import StreamSpec
from ingestion.protocol import Message, Quarantined, Record
from ingestion.sources import SavedState
from ingestion.sources._fileset import read_changed_files

STREAM = "documents"
MIME_TYPES = {".txt": "text/plain", ".md": "text/markdown", ".html": "text/html", ".htm": "text/html"}
SKIP_TAGS = {"script", "style", "nav", "header", "footer", "aside", "noscript", "template", "form", "svg"}
CONTENT_TAGS = {"html", "body", "main", "article"}  # never skipped for their class, id or role
BOILERPLATE_TOKENS = frozenset(
    {
        "nav",
        "navbar",
        "navigation",
        "sidebar",
        "sphinxsidebar",
        "footer",
        "header",
        "site-header",
        "site-footer",
        "site-nav",
        "menu",
        "breadcrumb",
        "breadcrumbs",
        "related",
        "cookie",
        "cookies",
        "cookie-banner",
        "banner",
        "toc",
        "skip-link",
    }
)  # matched against whole class/id tokens: `sidebar` is boilerplate, `has-sidebar` is not
BOILERPLATE_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})
BLOCK_TAGS = {
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "tr",
    "table",
    "section",
    "article",
    "blockquote",
    "dt",
    "dd",
    "hr",
}
VOID_TAGS = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "wbr"}


class DocumentsSource:
    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self.root = source.resolve_path(str(source.option("path")))
        self.extensions = {e.lower() for e in source.option("extensions", list(MIME_TYPES))}

    def streams(self) -> list[StreamSpec]:
        return [
            StreamSpec(
                name=STREAM,
                role="documents",
                primary_key="path",
                text_field="text",
                group_field=self.source.option("group_field"),
            )
        ]

    planned_streams = streams  # declaring them reads nothing

    def read(self, saved: SavedState) -> Iterator[Message]:
        files = sorted(
            p
            for p in self.root.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(self.root).parts)
        )
        yield from read_changed_files(files, self.root, STREAM, saved.streams.get(STREAM), self._documents)

    def _documents(self, path: Path, key: str) -> Iterator[Message]:
        yield self._document(path, key)

    def _document(self, path: Path, key: str) -> Message:
        raw = path.read_bytes()
        suffix = path.suffix.lower()
        if suffix not in self.extensions or suffix not in MIME_TYPES:
            return Quarantined(
                f"{key}: unsupported file type {suffix or '(none)'}; supported: {', '.join(sorted(self.extensions))}",
                raw,
                STREAM,
            )
        try:
            content = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            return Quarantined(f"{key}: not valid UTF-8 ({exc})", raw, STREAM)
        if "\x00" in content:
            return Quarantined(f"{key}: contains NUL bytes; not a text document", raw, STREAM)
        mime_type = MIME_TYPES[suffix]
        if mime_type == "text/html":
            title, text = extract_html(content)
        else:
            title, text = _title_of_text(content, mime_type), content
        modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        data = {
            "path": key,
            "title": title or path.stem,
            "mime_type": mime_type,
            "bytes": len(raw),
            "sha256": hashlib.sha256(raw).hexdigest(),
            "modified_at": modified.isoformat(),
            "text": text,
        }
        return Record(STREAM, data, int(time.time() * 1000), size=len(raw))


def _title_of_text(content: str, mime_type: str) -> str | None:
    for line in content.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if mime_type == "text/markdown":
            if stripped.startswith("#"):
                return stripped.lstrip("#").strip() or None
            continue
        return stripped[:200]
    return None


class _MainTextParser(HTMLParser):
    """Collects visible text outside boilerplate elements, and the <title>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, skipping)
        self._in_title = False

    @property
    def skipping(self) -> bool:
        return bool(self._stack) and self._stack[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in BLOCK_TAGS and not self.skipping:
            self.parts.append("\n")
        if tag in VOID_TAGS:
            return
        self._stack.append((tag, self.skipping or is_boilerplate(tag, attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in VOID_TAGS:
            return
        for index in range(len(self._stack) - 1, -1, -1):  # tolerate unclosed tags
            if self._stack[index][0] == tag:
                del self._stack[index:]
                break
        if tag in BLOCK_TAGS and not self.skipping:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self.skipping and not any(tag in {"head", "title"} for tag, _ in self._stack):
            self.parts.append(data)


def is_boilerplate(tag: str, attrs: list[tuple[str, str | None]]) -> bool:
    """Whether an element (and everything inside it) is page furniture rather than main text."""
    if tag in SKIP_TAGS:
        return True
    if tag in CONTENT_TAGS:
        return False
    names = {token for key, value in attrs if key in {"class", "id"} for token in (value or "").lower().split()}
    roles = {token for key, value in attrs if key == "role" for token in (value or "").lower().split()}
    return bool(names & BOILERPLATE_TOKENS or roles & BOILERPLATE_ROLES)


def extract_html(content: str) -> tuple[str | None, str]:
    """(title, main text) of an HTML page, boilerplate removed, blank lines collapsed."""
    parser = _MainTextParser()
    parser.feed(content)
    parser.close()
    title = " ".join("".join(parser.title_parts).split()) or None
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    text = "\n".join(line for line in lines if line)
    return title, text
