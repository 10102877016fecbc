"""Make the two binary sample documents (PDF, DOCX) from Debian documentation packages.

    apt-get install -y python3.11-doc shared-mime-info   # Debian 12 (bookworm)
    .venv/bin/python seeds/make_office_samples.py

- `documents/specs/shared-mime-info-spec.pdf`: the first 2 of the 17 pages of the Shared
  MIME-info Database specification (pdfTeX), re-written by pypdf with the original
  document information; nothing else changed.
- `documents/python-docs/tutorial/appetite.docx`: the Python tutorial's "Whetting Your
  Appetite" (`_sources/tutorial/appetite.rst.txt`) as a Word document written by
  python-docx: section titles become headings, paragraphs stay paragraphs, reST roles and
  link targets are reduced to their text. Its core properties name the page and the PSF.

The outputs are committed; running this again gives the same text, not the same bytes
(python-docx stamps the zip entries with the current time).
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from pathlib import Path

MIME_SPEC = Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf")
APPETITE = Path("/usr/share/doc/python3.11/html/_sources/tutorial/appetite.rst.txt")
DOCUMENTS = Path(__file__).resolve().parent / "sample" / "documents"
ADORNMENT = re.compile(r"([=\-~^*#])\1{2,}")
ROLE = re.compile(r":[\w:]+:`([^`<]*?)\s*(?:<[^>]*>)?`")
LINK = re.compile(r"`([^`<]*?)\s*<[^>`]*>`_{1,2}")


def pdf_sample() -> Path:
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(MIME_SPEC)
    writer = PdfWriter()
    for page in reader.pages[:2]:
        writer.add_page(page)
    writer.add_metadata(reader.metadata)
    writer.compress_identical_objects(remove_duplicates=True, remove_unreferenced=True)
    target = DOCUMENTS / "specs" / "shared-mime-info-spec.pdf"
    target.parent.mkdir(parents=True, exist_ok=True)
    writer.write(target)
    return target


def rest_blocks(source: str) -> list[tuple[str, str]]:
    """[(kind, text)] with kind 'title', 'heading' or 'paragraph', from a simple reST page."""
    blocks: list[tuple[str, str]] = []
    lines = source.splitlines()
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            text = ROLE.sub(r"\1", LINK.sub(r"\1", " ".join(paragraph)))
            blocks.append(("paragraph", " ".join(text.replace("``", "").split())))
            paragraph.clear()

    for index, line in enumerate(lines):
        stripped = line.strip()
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if ADORNMENT.fullmatch(stripped):
            continue
        if stripped.startswith(".."):
            flush()
            continue
        if stripped and ADORNMENT.fullmatch(following):
            flush()
            blocks.append(("title" if following[0] == "*" else "heading", stripped))
            continue
        if not stripped:
            flush()
            continue
        paragraph.append(stripped)
    flush()
    return blocks


def docx_sample() -> Path:
    import docx

    blocks = rest_blocks(APPETITE.read_text(encoding="utf-8"))
    document = docx.Document()
    for kind, text in blocks:
        if kind == "paragraph":
            document.add_paragraph(text)
        else:
            document.add_heading(text, level=0 if kind == "title" else 1)
    properties = document.core_properties
    properties.title = next(text for kind, text in blocks if kind == "title")
    properties.author = "Python Software Foundation"
    properties.language = "en-US"
    properties.created = properties.modified = datetime(2023, 2, 8, 0, 0, tzinfo=UTC)  # the 3.11.2 docs build
    properties.last_modified_by = "seeds/make_office_samples.py"
    target = DOCUMENTS / "python-docs" / "tutorial" / "appetite.docx"
    target.parent.mkdir(parents=True, exist_ok=True)
    document.save(target)
    return target


def main() -> int:
    for needed in (MIME_SPEC, APPETITE):
        if not needed.is_file():
            print(f"{needed} is missing: apt-get install -y python3.11-doc shared-mime-info", file=sys.stderr)
            return 1
    for path in (pdf_sample(), docx_sample()):
        print(f"{path.relative_to(DOCUMENTS.parent)}: {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
