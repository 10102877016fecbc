"""`kind: documents` — a folder of PDF, DOCX, HTML, Markdown and text files, one record per file.

Configuration (refinery.yml)::

    handbook:
      kind: documents
      path: seeds/sample/documents          # a folder, read recursively
      extensions: [.txt, .md, .html, .htm, .pdf, .docx]  # optional (this is the default)
      html_extractor: basic                 # optional: basic (default) or trafilatura

One stream, `documents`, landed as `raw.<source>__documents`. A record is::

    {path, title, mime_type, bytes, sha256, modified_at, text,          # since the first version
     author, page_count, language, language_from, created_at, created_at_from,
     modified_at_from, extractor, warnings}

`path` is relative to the folder, `sha256` is of the file's bytes. `created_at` and
`modified_at` come from the document's own metadata where it has them (PDF Info
dictionary, DOCX core properties) and from the file's modification time otherwise;
`created_at_from` / `modified_at_from` say which (`document` or `file`). `language` is an
ISO 639-1 hint: a stop-word vote over the text (en, de, fr, es, it, nl, pt), else the
document's declared language (HTML `lang`, DOCX core properties, PDF `/Lang`), else null;
`language_from` says which (`text`, `document`). `page_count` is the PDF's page count and
null for every other type (a DOCX has no pages until a word processor lays it out).
`warnings` holds what the extraction library reported about the file (for a PDF: a damaged
cross-reference table PDFium had to rebuild, a page it could not read, a date that is not a
PDF date, a feature PDFium does not support such as an XFA form), so nothing is printed to the
console.

PDFs are read with pypdfium2 (PDFium, the PDF engine of Chromium): on typeset documents it
keeps the word boundaries that pypdf lost (bag-of-words F1 0.987 against pypdf's 0.598 on
the Debian Reference) and is about 11 times faster; docs/document-extraction.md. PDFium is not
thread-safe: one thread per process extracts PDFs at a time.

HTML is reduced to its main text. The default, `basic`, is the standard-library stripper
below: scripts, styles, navigation, headers, footers and sidebars are removed — elements
such as <nav> and <footer>, and elements whose class or id is exactly a boilerplate word
(`sidebar`, `footer`, `cookie-banner`, …; `has-sidebar` is not; the id of a <section> or
`class="section"` element does not count: it is its heading's slug) or whose role is a
landmark such as `navigation`; <html>, <body>, <main> and <article> are never removed.
`html_extractor: trafilatura` uses trafilatura's main-text extraction instead (for
scraped web pages whose templates use other class names), falling back to the stripper
when it finds no main text (very short pages). On real documentation pages both score
the same (F1 0.97–1.00) and the stripper is 1.5–7 times faster: docs/document-extraction.md.

Quarantined with the reason and the file's bytes, while the rest of the folder still lands:
another extension, a text file that is not UTF-8, a corrupt PDF or DOCX, an encrypted PDF
that needs a password, a file with no extractable text (empty, or a scanned PDF without a
text layer). An unreadable file is quarantined and read again on the next run. Incremental
by file size and modification time.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import io
import logging
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from ingestion.protocol import Log, Message, Quarantined, Record, StreamSpec
from ingestion.sources import SavedState
from ingestion.sources._fileset import read_changed_files
from refinery.config import SourceConfig

STREAM = "documents"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MIME_TYPES = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".docx": DOCX_MIME,
}
HTML_EXTRACTORS = ("trafilatura", "basic")
DEFAULT_HTML_EXTRACTOR = "basic"  # measured: as good as trafilatura on real pages, faster
# Loggers of the extraction libraries: their records go into the document's `warnings`.
LIBRARY_LOGGERS = ("pypdfium2", "docx", "trafilatura", "htmldate", "courlan", "justext", "lxml")
MAX_WARNINGS = 20  # per document; a broken PDF can log one line per object
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
        "cookie-consent",
        "consent",
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

# Frequent function words that tell these languages apart; a word in two lists votes for both.
_STOP_WORD_TEXT = {
    "en": (
        "the and of to is in that it for with as was on are be this by not or have from but which you at "
        "an they were his her has their been would there can will"
    ),
    "de": (
        "der die das und ist nicht mit sich auf für dem den des ein eine einer zu von im auch es wird "
        "werden oder wie bei sind dass aus nach hat noch über"
    ),
    "fr": (
        "le la les et est des une un du que qui dans pour pas sur au avec ce il elle sont par plus "
        "ne se mais ou leur nous vous être aux"
    ),
    "es": (
        "el la los las y es que del en un una por con no para se su al lo como más pero sus le ha "
        "fue este esta son entre también"
    ),
    "it": (
        "il di che e la per un una non sono gli le del della con si da al nel anche come più ma "
        "questo questa essere dei delle ha"
    ),
    "nl": (
        "de het een en van is dat niet op te zijn met voor ook als aan er maar om door bij nog "
        "wordt worden heeft dit deze naar"
    ),
    "pt": (
        "o a os as e de do da dos das em um uma que não para com por se mais mas ao como foi são "
        "também pelo pela seu sua está"
    ),
}
STOP_WORDS = {language: frozenset(words.split()) for language, words in _STOP_WORD_TEXT.items()}
LANGUAGE_SAMPLE_WORDS = 2000  # a vote over the first words is as good as over all of them
MIN_LANGUAGE_VOTES = 5  # fewer stop words than this: too little text to tell
WORD = re.compile(r"[^\W\d_]+")
HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
HTML_LANG = re.compile(r"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3})", re.IGNORECASE)
HTML_META = re.compile(r"<meta\b[^>]*>", re.IGNORECASE)
HTML_ATTRIBUTE = re.compile(r"""([a-zA-Z:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""")


class DocumentRejected(ValueError):
    """A file that cannot become a record; the message is the quarantine reason."""


@dataclass
class Extracted:
    """What a format's extractor found in one file."""

    text: str
    extractor: str
    title: str | None = None
    author: str | None = None
    page_count: int | None = None
    language: str | None = None  # declared by the document
    created_at: datetime | None = None
    modified_at: datetime | None = None
    warnings: list[str] = field(default_factory=list)


class DocumentsSource:
    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self.root = source.resolve_path(str(source.option("path")))
        self.extensions = {e.lower() for e in source.option("extensions", list(MIME_TYPES))}
        self.html_extractor = source.option("html_extractor", DEFAULT_HTML_EXTRACTOR)

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
        message = self._document(path, key)
        if isinstance(message, Record) and message.data["warnings"]:
            found = message.data["warnings"]
            yield Log("WARN", f"{key}: {len(found)} warning(s) from {message.data['extractor']}, first: {found[0]}")
        yield message

    def _document(self, path: Path, key: str) -> Message:
        raw = path.read_bytes()
        suffix = path.suffix.lower()
        if suffix not in self.extensions or suffix not in MIME_TYPES:
            return Quarantined(
                f"{key}: unsupported file type {suffix or '(none)'}; supported: {', '.join(sorted(self.extensions))}",
                raw,
                STREAM,
            )
        if not raw:
            return Quarantined(f"{key}: empty document: the file has 0 bytes", raw, STREAM)
        mime_type = MIME_TYPES[suffix]
        try:
            extracted = extract_document(raw, mime_type, self.html_extractor)
        except DocumentRejected as exc:
            return Quarantined(f"{key}: {exc}", raw, STREAM)
        if not extracted.text.strip():
            return Quarantined(f"{key}: {_no_text_reason(extracted)}", raw, STREAM)
        file_modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        language, language_from = detect_language(extracted.text), "text"
        if language is None:
            language, language_from = extracted.language, "document" if extracted.language else None
        data = {
            "path": key,
            "title": extracted.title or path.stem,
            "mime_type": mime_type,
            "bytes": len(raw),
            "sha256": hashlib.sha256(raw).hexdigest(),
            "modified_at": _iso(extracted.modified_at or file_modified),
            "text": extracted.text,
            "author": extracted.author,
            "page_count": extracted.page_count,
            "language": language,
            "language_from": language_from,
            "created_at": _iso(extracted.created_at or file_modified),
            "created_at_from": "document" if extracted.created_at else "file",
            "modified_at_from": "document" if extracted.modified_at else "file",
            "extractor": extracted.extractor,
            "warnings": extracted.warnings,
        }
        return Record(STREAM, data, int(time.time() * 1000), size=len(raw))


def _no_text_reason(extracted: Extracted) -> str:
    if extracted.extractor == PDF_EXTRACTOR:
        pages = extracted.page_count or 0
        return (
            f"empty document: no text extracted from {pages} page(s); a scanned PDF has no text layer "
            "and needs OCR before it can be ingested"
        )
    return "empty document: no text extracted"


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:  # PDF and DOCX dates without a zone: taken as UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def extract_document(raw: bytes, mime_type: str, html_extractor: str = DEFAULT_HTML_EXTRACTOR) -> Extracted:
    """The text and metadata of one file, library warnings captured into `warnings`.

    Raises:
        DocumentRejected: the file cannot be read as its type says (the message is the reason).
    """
    with captured_library_warnings() as captured:
        if mime_type == "application/pdf":
            extracted = extract_pdf(raw)
        elif mime_type == DOCX_MIME:
            extracted = extract_docx(raw)
        else:
            content = _decode_text(raw)
            if mime_type == "text/html":
                extracted = extract_html_document(content, html_extractor)
            else:
                extracted = Extracted(text=content, extractor="text", title=_title_of_text(content, mime_type))
    extracted.warnings = _unique([*extracted.warnings, *captured])[:MAX_WARNINGS]
    return extracted


def _decode_text(raw: bytes) -> str:
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentRejected(f"not valid UTF-8 ({exc}); re-save the file as UTF-8") from exc
    if "\x00" in content:
        raise DocumentRejected("contains NUL bytes; not a text document")
    return content


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(level=logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink.append(f"{record.name}: {record.getMessage()}"[:300])
        except Exception:  # a log record that cannot be formatted is not worth failing a document for
            self.sink.append(f"{record.name}: {record.msg!r}"[:300])


@contextmanager
def captured_library_warnings() -> Iterator[list[str]]:
    """Collect what the extraction libraries log or warn (WARNING and above) instead of printing it."""
    sink: list[str] = []
    handler = _ListHandler(sink)
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    saved = [(logger, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield sink
        sink.extend(f"{w.category.__name__}: {w.message}"[:300] for w in caught)
    finally:
        for logger, propagate in saved:
            logger.removeHandler(handler)
            logger.propagate = propagate


# -- PDF -----------------------------------------------------------------------------------------
PDF_EXTRACTOR = "pypdfium2"
# A rectangle larger than any page (PDF units): FPDFText_GetBoundedText then returns every character, including
# text that runs past the page box, which the page-sized default would cut off. Unlike get_text_range it is not
# limited to UCS-2.
_ANY_PAGE = (-1e7, -1e7, 1e7, 1e7)
# PDFium marks a hyphen it took for a line-break hyphenation ("de-|fault") with U+0002 (U+FFFE in other calls)
# and joins the word; dropping the marker gives "default".
_PDFIUM_HYPHENS = ("\x02", "\ufffe")
PDF_DATE = re.compile(
    r"(?:D:)?(\d{4})(\d\d)?(\d\d)?(\d\d)?(\d\d)?(\d\d)?(?:([Zz+-])(?:(\d\d)'?(?:(\d\d)'?)?)?)?"
)  # D:YYYYMMDDHHmmSSOHH'mm' — everything after the year is optional (PDF 32000-1, 7.9.4)


def extract_pdf(raw: bytes) -> Extracted:
    """Text of every page (pages separated by a blank line), Info metadata, /Lang, page count — by PDFium.

    The document, its pages and text pages are closed before returning, on every path. PDFium is not
    thread-safe: call this from one thread at a time per process (the source reads files one after another).
    """
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    _report_unsupported_pdf_features()
    try:
        document = pdfium.PdfDocument(raw)
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:  # the empty user password was tried: an owner password is not
            raise DocumentRejected(
                "encrypted PDF: cannot extract text without the password; save an unencrypted copy"
            ) from exc
        if exc.err_code == pdfium_c.FPDF_ERR_SECURITY:
            raise DocumentRejected(
                "encrypted PDF: a security handler PDFium does not support; save an unencrypted copy"
            ) from exc
        raise DocumentRejected(f"corrupt PDF: {type(exc).__name__}: {exc}") from exc
    try:
        notes: list[str] = []
        if not pdfium_c.FPDF_DocumentHasValidCrossReferenceTable(document):
            notes.append(f"{PDF_EXTRACTOR}: damaged cross-reference table; PDFium rebuilt it by scanning the file")
        pages = [_pdf_page_text(document, index, notes) for index in range(len(document))]
        if pages and all(page is None for page in pages):
            first = next(note for note in notes if note.startswith(f"{PDF_EXTRACTOR}: page "))
            raise DocumentRejected(f"corrupt PDF: no page could be read ({first})")
        info = _pdf_info(document, notes)
    finally:
        document.close()
    text = "\n\n".join(page for page in pages if page)
    return Extracted(
        text=text,
        extractor=PDF_EXTRACTOR,
        title=_clean(info.get("Title")) or _first_line(text),
        author=_clean(info.get("Author")),
        page_count=len(pages),
        language=_language_code(info.get("Lang")),
        created_at=info.get("CreationDate"),
        modified_at=info.get("ModDate"),
        warnings=notes,
    )


def _pdf_page_text(document: Any, index: int, notes: list[str]) -> str | None:
    """One page's text, stripped, lines ending in a newline; None (and a note) when the page cannot be read."""
    page = textpage = None
    try:
        page = document[index]
        textpage = page.get_textpage()
        text = textpage.get_text_bounded(*_ANY_PAGE)
    except Exception as exc:  # one damaged page loses its own text, not the document's
        notes.append(f"{PDF_EXTRACTOR}: page {index + 1}: text not extracted: {type(exc).__name__}: {exc}")
        return None
    finally:
        for handle in (textpage, page):
            if handle is not None:
                handle.close()
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for marker in _PDFIUM_HYPHENS:  # str.replace is faster than str.translate here
        text = text.replace(marker, "")
    return text.strip()


def _pdf_info(document: Any, notes: list[str]) -> dict[str, Any]:
    """Title, Author, CreationDate and ModDate (as datetimes) from the Info dictionary, and the catalog's /Lang."""
    info: dict[str, Any] = {}
    try:
        metadata = document.get_metadata_dict(skip_empty=True)
    except Exception as exc:  # a damaged Info dictionary loses the metadata, not the text
        notes.append(f"{PDF_EXTRACTOR}: unreadable document information: {type(exc).__name__}: {exc}")
        return info
    info["Title"], info["Author"] = metadata.get("Title"), metadata.get("Author")
    for key in ("CreationDate", "ModDate"):
        if metadata.get(key):
            try:
                info[key] = parse_pdf_date(metadata[key])
            except ValueError as exc:
                notes.append(f"{PDF_EXTRACTOR}: unreadable /{key}: {exc}")
    try:
        info["Lang"] = _pdf_language(document)
    except Exception as exc:
        notes.append(f"{PDF_EXTRACTOR}: unreadable /Lang: {type(exc).__name__}: {exc}")
    return info


def _pdf_language(document: Any) -> str | None:
    import ctypes

    import pypdfium2.raw as pdfium_c

    size = pdfium_c.FPDFCatalog_GetLanguage(document, None, 0)  # bytes of UTF-16LE, with the terminator
    if size <= 2:
        return None
    buffer = (ctypes.c_ushort * (size // 2))()
    pdfium_c.FPDFCatalog_GetLanguage(document, buffer, size)
    return bytes(buffer).decode("utf-16-le", errors="replace").rstrip("\x00") or None


def parse_pdf_date(value: str) -> datetime:
    """A PDF date string (`D:20230102030405+01'00'`, `D:2023`, `D:20230102030405Z`) as a datetime.

    Without a time zone the result is naive (the record takes it as UTC).

    Raises:
        ValueError: the string is not a PDF date.
    """
    match = PDF_DATE.fullmatch(value.strip())
    if not match:
        raise ValueError(f"{value[:40]!r} is not a PDF date (D:YYYYMMDDHHmmSS+HH'mm')")
    year, month, day, hour, minute, second, sign, zone_hours, zone_minutes = match.groups()
    try:
        moment = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0))
        if sign is None:
            return moment
        offset = timedelta(hours=int(zone_hours or 0), minutes=int(zone_minutes or 0))
        return moment.replace(tzinfo=timezone(-offset if sign == "-" else offset))
    except ValueError as exc:  # month 13, hour 25, an offset of a day or more …
        raise ValueError(f"{value[:40]!r} is not a valid date: {exc}") from exc


def _report_unsupported_pdf_features() -> None:
    """Have PDFium report what it cannot handle (XFA forms, portfolios, …) to the `pypdfium2` logger, once."""
    from pypdfium2 import PdfUnspHandler

    if PdfUnspHandler.SINGLETON is None:  # one handler per process, and it cannot be removed
        PdfUnspHandler().setup()


# -- DOCX ----------------------------------------------------------------------------------------
def extract_docx(raw: bytes) -> Extracted:
    """Paragraphs and table rows in document order (cells separated by tabs), core properties."""
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(raw))
        lines: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    seen: set[int] = set()
                    cells = []
                    for cell in row.cells:  # a merged cell comes back once per grid column it spans
                        if id(cell._tc) not in seen:
                            seen.add(id(cell._tc))
                            cells.append(cell.text.strip())
                    lines.append("\t".join(cell for cell in cells if cell))
            else:
                lines.append(block.text)
    except Exception as exc:  # python-docx raises zipfile, KeyError, lxml and its own errors alike
        raise DocumentRejected(f"corrupt DOCX: {type(exc).__name__}: {exc}") from exc
    notes: list[str] = []
    properties: dict[str, Any] = {}
    for name in ("title", "author", "language", "created", "modified"):
        try:
            properties[name] = getattr(document.core_properties, name)
        except Exception as exc:  # a damaged docProps/core.xml loses that property, not the text
            notes.append(f"docx: unreadable core property {name}: {type(exc).__name__}: {exc}")
    text = "\n".join(line for line in (line.strip() for line in lines) if line)
    return Extracted(
        text=text,
        extractor="python-docx",
        title=_clean(properties.get("title")) or _first_line(text),
        author=_clean(properties.get("author")),
        language=_language_code(properties.get("language")),
        created_at=properties.get("created"),
        modified_at=properties.get("modified"),
        warnings=notes,
    )


# -- HTML ----------------------------------------------------------------------------------------
def extract_html_document(content: str, extractor: str = DEFAULT_HTML_EXTRACTOR) -> Extracted:
    """Main text of an HTML page with the chosen extractor, plus <title>, `lang` and author meta."""
    head = _html_head(content)
    if extractor == "trafilatura":
        text = extract_html_trafilatura(content)
        if text:
            return Extracted(
                text=text, extractor="trafilatura", title=head["title"], author=head["author"], language=head["lang"]
            )
    title, text = extract_html(content)
    used = "basic" if extractor == "basic" else "basic (trafilatura found no main text)"
    return Extracted(text=text, extractor=used, title=title, author=head["author"], language=head["lang"])


def extract_html_trafilatura(content: str) -> str:
    """trafilatura's main text ('' when it finds none); comments below articles are left out."""
    import trafilatura

    try:
        text = trafilatura.extract(content, include_comments=False, include_tables=True)
    except Exception as exc:  # lxml cannot parse some inputs; the basic stripper still can
        logging.getLogger("trafilatura").warning("extraction failed: %s", exc)
        return ""
    return text or ""


def _html_head(content: str) -> dict[str, str | None]:
    title_match = HTML_TITLE.search(content)
    title = " ".join(html_lib.unescape(title_match.group(1)).split()) if title_match else None
    lang_match = HTML_LANG.search(content)
    author = None
    for tag in HTML_META.findall(content):
        attributes = {
            m.group(1).lower(): next(g for g in m.groups()[1:] if g is not None) for m in HTML_ATTRIBUTE.finditer(tag)
        }
        if attributes.get("name", "").lower() == "author" and attributes.get("content"):
            author = _clean(html_lib.unescape(attributes["content"]))
            break
    return {
        "title": title or None,
        "lang": _language_code(lang_match.group(1)) if lang_match else None,
        "author": author,
    }


# -- text and helpers ----------------------------------------------------------------------------
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


def _first_line(text: str) -> str | None:
    return _title_of_text(text, "text/plain")


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _language_code(value: Any) -> str | None:
    """'en-US' → 'en'; anything that is not a language tag → None."""
    text = _clean(value)
    if not text:
        return None
    code = re.split(r"[-_]", text.lower())[0]
    return code if re.fullmatch(r"[a-z]{2,3}", code) else None


def detect_language(text: str) -> str | None:
    """An ISO 639-1 guess from a stop-word vote over the first words; None when too little to tell."""
    votes = dict.fromkeys(STOP_WORDS, 0)
    for count, match in enumerate(WORD.finditer(text)):
        if count >= LANGUAGE_SAMPLE_WORDS:
            break
        word = match.group().lower()
        for language, words in STOP_WORDS.items():
            if word in words:
                votes[language] += 1
    ranked = sorted(votes.items(), key=lambda item: item[1], reverse=True)
    (best, best_votes), (_, second_votes) = ranked[0], ranked[1]
    if best_votes < MIN_LANGUAGE_VOTES or best_votes < 1.2 * second_votes:
        return None
    return best


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
    classes = {token for key, value in attrs if key == "class" for token in (value or "").lower().split()}
    names = set(classes)
    if tag != "section" and "section" not in classes:
        # A document section's id is its heading's slug: a section titled "Cookies" (id="cookies") is content.
        names |= {token for key, value in attrs if key == "id" for token in (value or "").lower().split()}
    roles = {token for key, value in attrs if key == "role" for token in (value or "").lower().split()}
    return bool(names & BOILERPLATE_TOKENS or roles & BOILERPLATE_ROLES)


def extract_html(content: str) -> tuple[str | None, str]:
    """(title, main text) of an HTML page by the basic stripper, boilerplate removed, blank lines collapsed."""
    parser = _MainTextParser()
    parser.feed(content)
    parser.close()
    title = " ".join("".join(parser.title_parts).split()) or None
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    text = "\n".join(line for line in lines if line)
    return title, text
