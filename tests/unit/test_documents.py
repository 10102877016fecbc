"""`kind: documents`: PDF, DOCX, HTML, Markdown and text files, their metadata, and what is quarantined."""

from __future__ import annotations

import io
import os
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from ingestion.destination import DuckDBDestination
from ingestion.protocol import Log, Quarantined, Record
from ingestion.sources import SavedState, build_source
from ingestion.sources.documents import DOCX_MIME, DocumentRejected, detect_language, extract_document, parse_pdf_date
from refinery.config import ConfigError, load_config

pytestmark = pytest.mark.unit

ENGLISH = (
    "The committee met on Tuesday to review the budget. It was agreed that the new library would open in "
    "spring, and that the old building will be used for the archive of the city."
)
GERMAN = (
    "Der Ausschuss hat sich am Dienstag getroffen, um den Haushalt zu prüfen. Es wurde beschlossen, dass die "
    "neue Bibliothek im Frühjahr eröffnet wird und dass das alte Gebäude für das Archiv der Stadt genutzt wird."
)
FRENCH = (
    "Le comité s'est réuni mardi pour examiner le budget. Il a été décidé que la nouvelle bibliothèque ouvrira "
    "au printemps et que le vieux bâtiment sera utilisé pour les archives de la ville."
)


def _pdf_string(text: str) -> bytes:
    return b"(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("cp1252") + b")"


def text_pdf(pages: list[list[str]], info: dict[str, str] | None = None, catalog: bytes = b"") -> bytes:
    """A small valid PDF: one Helvetica text line per string, one page per list; `info` → /Info, `catalog` is
    added to the document catalog's entries."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * index for index in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R " + catalog + b" >>")
    objects.append(
        b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % i for i in page_ids) + b"] /Count %d >>" % len(pages)
    )
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for page_id, lines in zip(page_ids, pages, strict=True):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents %d 0 R >>" % (page_id + 1)
        )
        stream = b"BT /F1 11 Tf 72 720 Td 14 TL " + b" ".join(_pdf_string(line) + b" Tj T*" for line in lines) + b" ET"
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    info_ref = b""
    if info:
        objects.append(b"<< " + b" ".join(b"/" + k.encode() + b" " + _pdf_string(v) for k, v in info.items()) + b" >>")
        info_ref = b" /Info %d 0 R" % len(objects)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R" % (len(objects) + 1) + info_ref + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def encrypted_pdf(user_password: str, owner_password: str | None = None) -> bytes:
    from pypdf import PdfReader, PdfWriter  # a dev dependency: PDFium cannot write encrypted PDFs

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf([[ENGLISH]]))))
    writer.encrypt(user_password, owner_password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def word_document(paragraphs: list[str], *, title: str = "", author: str = "", language: str = "") -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(paragraphs[0], level=1)
    for paragraph in paragraphs[1:]:
        document.add_paragraph(paragraph)
    table = document.add_table(rows=2, cols=2)
    for row, (name, value) in enumerate([("Room", "Capacity"), ("Hall A", "120")]):
        table.cell(row, 0).text, table.cell(row, 1).text = name, value
    document.add_paragraph("After the table.")
    properties = document.core_properties
    properties.title, properties.author, properties.language = title, author, language
    properties.created = datetime(2023, 5, 6, 7, 8, 9, tzinfo=UTC)
    properties.modified = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


ARTICLE_PAGE = f"""<!doctype html><html lang="en-GB"><head><title>Library news</title>
<meta name="author" content="Jane Roe"><script>window.track = function () {{ send("pageview"); }};</script>
<style>.cookie-banner {{ position: fixed }}</style></head><body>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies</div>
<header><a href="/">City portal</a> <a href="/login">Log in</a></header>
<nav class="navbar"><ul><li><a href="/news">News</a></li><li><a href="/events">Events</a></li></ul></nav>
<aside class="sidebar"><h3>Popular posts</h3><ul><li>Parking rules change</li><li>Pool opening hours</li></ul></aside>
<main><article><h1>The new library opens in spring</h1>
<p>{ENGLISH}</p>
<p>Readers will find more than forty thousand books on three floors, a reading garden and a room for
children where stories are told every Saturday morning.</p>
<h2>Opening hours</h2>
<p>The library will be open from nine in the morning until eight in the evening on weekdays, and until
six on Saturdays. It is closed on Sundays and on public holidays.</p></article></main>
<footer class="site-footer">© 2024 City portal · Imprint · Privacy policy</footer>
<script>document.querySelector(".cookie-banner").remove();</script></body></html>"""
BOILERPLATE = ["cookies", "City portal", "Log in", "Events", "Popular posts", "Parking rules", "Imprint", "pageview"]


def read_all(tmp_path: Path, write_config, files: dict[str, bytes], options: str = "") -> list:
    docs = tmp_path / "docs"
    for name, data in files.items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_bytes(data)
    config = load_config(write_config(f"sources: {{d: {{kind: documents, path: docs{options}}}}}"))
    return list(build_source(config.sources["d"], config).read(SavedState()))


def records(items: list) -> dict[str, dict]:
    return {m.data["path"]: m.data for m in items if isinstance(m, Record)}


def test_pdf_text_page_count_and_metadata(tmp_path, write_config):
    pdf = text_pdf(
        [["Annual report 2023", ENGLISH], ["Second page: the archive moves in May."]],
        {"Title": "Annual Report", "Author": "City Council", "CreationDate": "D:20230102030405Z"},
    )
    items = read_all(tmp_path, write_config, {"report.pdf": pdf})
    record = records(items)["report.pdf"]
    assert record["text"] == f"Annual report 2023\n{ENGLISH}\n\nSecond page: the archive moves in May."
    assert (record["title"], record["author"], record["page_count"], record["mime_type"]) == (
        "Annual Report",
        "City Council",
        2,
        "application/pdf",
    )
    assert (record["language"], record["language_from"], record["extractor"]) == ("en", "text", "pypdfium2")
    assert (record["created_at"], record["created_at_from"]) == ("2023-01-02T03:04:05+00:00", "document")
    mtime = datetime.fromtimestamp((tmp_path / "docs" / "report.pdf").stat().st_mtime, tz=UTC).isoformat()
    assert (record["modified_at"], record["modified_at_from"]) == (mtime, "file")  # no /ModDate
    assert (record["bytes"], record["warnings"]) == (len(pdf), [])


def test_a_word_hyphenated_at_a_line_end_is_joined():
    """PDFium marks a line-end hyphen it takes for hyphenation and joins the lines; the marker is dropped.

    A real hyphen that falls at a line end is lost too ("well-known" → "wellknown"): on the Debian Reference
    that was 1 of 12 such hyphens, and the bag-of-words F1 rose from 0.985 to 0.987 (docs/document-extraction.md).
    """
    pdf = text_pdf([["The de-", "fault path is /sbin/init, a well-", "known name.", "Next line."]])
    assert extract_document(pdf, "application/pdf").text == (
        "The default path is /sbin/init, a wellknown name.\nNext line."
    )


def test_pdf_without_metadata_takes_its_title_from_the_first_line(tmp_path, write_config):
    items = read_all(tmp_path, write_config, {"notes.pdf": text_pdf([["Meeting notes", ENGLISH]])})
    record = records(items)["notes.pdf"]
    assert (record["title"], record["author"], record["created_at_from"]) == ("Meeting notes", None, "file")


def test_pdf_with_only_an_owner_password_is_read(tmp_path, write_config):
    items = read_all(tmp_path, write_config, {"locked.pdf": encrypted_pdf("", "owner-secret")})
    assert records(items)["locked.pdf"]["text"] == ENGLISH


def test_aes_256_encrypted_pdfs_need_no_extra_package():
    """PDFium decrypts AES itself (pypdf needed `cryptography`, which Refinery does not install).

    tests/unit/data/aes256-*.pdf: `text_pdf([[ENGLISH]])` encrypted by pypdf 7.1.1 with `cryptography`,
    `encrypt("", "owner-secret", algorithm="AES-256")` (with the /Title "AES owner only") and
    `encrypt("user-secret", "owner-secret", algorithm="AES-256")`.
    """
    data = Path(__file__).parent / "data"
    extracted = extract_document((data / "aes256-owner-password.pdf").read_bytes(), "application/pdf")
    assert (extracted.text, extracted.title, extracted.warnings) == (ENGLISH, "AES owner only", [])
    with pytest.raises(DocumentRejected, match=r"^encrypted PDF: cannot extract text without the password"):
        extract_document((data / "aes256-user-password.pdf").read_bytes(), "application/pdf")


def test_docx_text_tables_author_title_and_dates(tmp_path, write_config):
    data = word_document(
        ["Neue Bibliothek", GERMAN, "Die Eröffnung ist für den April geplant."],
        title="Bibliothek",
        author="Erika Mustermann",
        language="de-DE",
    )
    record = records(read_all(tmp_path, write_config, {"brief.docx": data}))["brief.docx"]
    assert record["text"] == (
        f"Neue Bibliothek\n{GERMAN}\nDie Eröffnung ist für den April geplant.\n"
        "Room\tCapacity\nHall A\t120\nAfter the table."
    )
    assert (record["title"], record["author"], record["mime_type"], record["page_count"]) == (
        "Bibliothek",
        "Erika Mustermann",
        DOCX_MIME,
        None,
    )
    assert (record["language"], record["language_from"], record["extractor"]) == ("de", "text", "python-docx")
    assert (record["created_at"], record["modified_at"]) == ("2023-05-06T07:08:09+00:00", "2024-01-02T03:04:05+00:00")
    assert (record["created_at_from"], record["modified_at_from"]) == ("document", "document")


def test_docx_without_title_uses_its_first_paragraph_and_declared_language(tmp_path, write_config):
    data = word_document(["Kurz", "Ein Satz."], language="de-AT")
    record = records(read_all(tmp_path, write_config, {"kurz.docx": data}))["kurz.docx"]
    # too few words for the stop-word vote: the core properties' language is the hint
    assert (record["title"], record["language"], record["language_from"]) == ("Kurz", "de", "document")


@pytest.mark.parametrize("extractor", ["basic", "trafilatura"])
def test_html_boilerplate_is_removed_and_article_text_kept(tmp_path, write_config, extractor):
    items = read_all(
        tmp_path, write_config, {"news.html": ARTICLE_PAGE.encode()}, options=f", html_extractor: {extractor}"
    )
    record = records(items)["news.html"]
    assert record["extractor"] == extractor
    for sentence in [ENGLISH, "The new library opens in spring", "Opening hours", "closed on Sundays"]:
        assert sentence in record["text"]
    for furniture in BOILERPLATE:
        assert furniture not in record["text"], furniture
    lines = record["text"].splitlines()
    assert lines[lines.index("Opening hours") - 1].endswith("every Saturday morning.")  # block breaks kept
    assert (record["title"], record["author"], record["language"], record["mime_type"]) == (
        "Library news",
        "Jane Roe",
        "en",
        "text/html",
    )


def test_trafilatura_falls_back_to_the_stripper_on_a_tiny_page(tmp_path, write_config):
    page = b"<div>Bonjour.</div>"  # a fragment this short: trafilatura returns None
    record = records(read_all(tmp_path, write_config, {"p.html": page}, options=", html_extractor: trafilatura"))
    assert (record["p.html"]["text"], record["p.html"]["extractor"]) == (
        "Bonjour.",
        "basic (trafilatura found no main text)",
    )
    assert (record["p.html"]["title"], record["p.html"]["language"], record["p.html"]["language_from"]) == (
        "p",
        None,
        None,
    )


def test_markdown_and_text_keep_their_text(tmp_path, write_config):
    markdown = f"---\n\n# Bericht\n\n{GERMAN}\n"
    items = read_all(tmp_path, write_config, {"bericht.md": markdown.encode(), "note.txt": f"\n{FRENCH}\n".encode()})
    found = records(items)
    assert (found["bericht.md"]["text"], found["bericht.md"]["title"], found["bericht.md"]["language"]) == (
        markdown,
        "Bericht",
        "de",
    )
    assert (found["note.txt"]["text"], found["note.txt"]["title"], found["note.txt"]["language"]) == (
        f"\n{FRENCH}\n",
        FRENCH[:200],
        "fr",
    )
    assert found["note.txt"]["mime_type"] == "text/plain" and found["note.txt"]["page_count"] is None


def test_language_hint_by_stop_word_vote():
    assert [detect_language(text) for text in (ENGLISH, GERMAN, FRENCH)] == ["en", "de", "fr"]
    assert detect_language("Hall A 120") is None  # too few words to tell
    assert detect_language("") is None


def test_bad_files_are_quarantined_with_their_reason_and_the_rest_lands(tmp_path, write_config):
    not_a_docx = io.BytesIO()
    with zipfile.ZipFile(not_a_docx, "w") as archive:
        archive.writestr("notes.txt", "a zip, but not a Word document")
    files = {
        "good/report.pdf": text_pdf([[ENGLISH]]),
        "good/letter.docx": word_document(["Letter", ENGLISH]),
        "good/page.html": ARTICLE_PAGE.encode(),
        "good/readme.md": f"# Readme\n\n{ENGLISH}\n".encode(),
        "good/plain.txt": ENGLISH.encode(),
        "bad/corrupt.pdf": b"%PDF-1.4\n" + os.urandom(64),
        "bad/secret.pdf": encrypted_pdf("user-secret"),
        "bad/scan.pdf": text_pdf([[]]),
        "bad/empty.txt": b"",
        "bad/blank.md": b"  \n\n",
        "bad/random.docx": os.urandom(256),
        "bad/zip.docx": not_a_docx.getvalue(),
    }
    for name, data in files.items():
        (tmp_path / "docs" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "docs" / name).write_bytes(data)
    config = load_config(write_config("sources: {d: {kind: documents, path: docs}}"))
    source = build_source(config.sources["d"], config)
    database = tmp_path / "warehouse.duckdb"
    result = DuckDBDestination(database, "d", "documents").run(source.streams(), source.read(SavedState()))
    assert result.status == "succeeded"
    assert (result.streams["documents"].landed, result.streams["documents"].quarantined) == (5, 7)
    with duckdb.connect(str(database), read_only=True) as con:
        landed = sorted(
            row[0] for row in con.execute("select _airbyte_data ->> 'path' from raw.d__documents").fetchall()
        )
        quarantined = dict(con.execute("select reason, raw_bytes from raw._refinery_quarantine").fetchall())
    assert landed == ["good/letter.docx", "good/page.html", "good/plain.txt", "good/readme.md", "good/report.pdf"]
    reasons = sorted(quarantined)
    assert reasons[0] == "bad/blank.md: empty document: no text extracted"
    assert reasons[1].startswith("bad/corrupt.pdf: corrupt PDF: ")
    assert reasons[2] == "bad/empty.txt: empty document: the file has 0 bytes"
    assert reasons[3] == "bad/random.docx: corrupt DOCX: BadZipFile: File is not a zip file"
    assert reasons[4] == (
        "bad/scan.pdf: empty document: no text extracted from 1 page(s); a scanned PDF has no text layer and "
        "needs OCR before it can be ingested"
    )
    assert reasons[5] == (
        "bad/secret.pdf: encrypted PDF: cannot extract text without the password; save an unencrypted copy"
    )
    assert reasons[6] == (
        "bad/zip.docx: corrupt DOCX: KeyError: \"There is no item named '[Content_Types].xml' in the archive\""
    )
    assert quarantined[reasons[5]] == files["bad/secret.pdf"]  # the original bytes are kept


def test_library_warnings_go_into_the_record_not_the_console(tmp_path, write_config, capfd, caplog):
    pdf = text_pdf([[ENGLISH]])
    damaged = pdf.replace(b"startxref\n%d" % int(pdf.rsplit(b"startxref\n", 1)[1].split()[0]), b"startxref\n999999")
    items = read_all(tmp_path, write_config, {"odd.pdf": damaged})
    record = records(items)["odd.pdf"]
    assert record["text"] == ENGLISH
    assert record["warnings"] == ["pypdfium2: damaged cross-reference table; PDFium rebuilt it by scanning the file"]
    logs = [m for m in items if isinstance(m, Log)]
    assert [(m.level, m.message.split(",")[0]) for m in logs] == [("WARN", "odd.pdf: 1 warning(s) from pypdfium2")]
    out, err = capfd.readouterr()
    assert (out, err, caplog.records) == ("", "", [])


def test_an_unsupported_pdf_feature_is_a_warning(tmp_path, write_config, capfd, caplog):
    portfolio = text_pdf([[ENGLISH]], catalog=b"/Collection << /Type /Collection >>")
    record = records(read_all(tmp_path, write_config, {"portfolio.pdf": portfolio}))["portfolio.pdf"]
    assert (record["text"], record["warnings"]) == (
        ENGLISH,
        ["pypdfium2: Unsupported PDF feature: Portable collection"],
    )
    assert (*capfd.readouterr(), caplog.records) == ("", "", [])


def test_extract_document_reports_a_pdf_with_a_bad_date_without_failing():
    pdf = text_pdf([[ENGLISH]], {"CreationDate": "yesterday"})
    extracted = extract_document(pdf, "application/pdf")
    assert extracted.text == ENGLISH and extracted.created_at is None
    assert extracted.warnings == [
        "pypdfium2: unreadable /CreationDate: 'yesterday' is not a PDF date (D:YYYYMMDDHHmmSS+HH'mm')"
    ]


def test_pdf_modification_date_with_an_offset_and_declared_language(tmp_path, write_config):
    pdf = text_pdf([["Kurz."]], {"ModDate": "D:20240102030405+01'30'"}, catalog=b"/Lang (de-CH)")
    record = records(read_all(tmp_path, write_config, {"kurz.pdf": pdf}))["kurz.pdf"]
    assert (record["modified_at"], record["modified_at_from"]) == ("2024-01-02T01:34:05+00:00", "document")
    # too few words for the stop-word vote: the catalog's /Lang is the hint
    assert (record["language"], record["language_from"], record["title"]) == ("de", "document", "Kurz.")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("D:20230102030405Z", datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("D:20230102030405Z00'00'", datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("D:20230102030405-05'00'", datetime(2023, 1, 2, 8, 4, 5, tzinfo=UTC)),
        ("D:20230102030405+0530", datetime(2023, 1, 1, 21, 34, 5, tzinfo=UTC)),
        ("20230102", datetime(2023, 1, 2)),  # producers that leave out "D:"; no zone: naive, the record says UTC
        ("D:2023", datetime(2023, 1, 1)),
    ],
)
def test_pdf_dates(value, expected):
    parsed = parse_pdf_date(value)
    assert (parsed.astimezone(UTC) if parsed.tzinfo else parsed) == expected


@pytest.mark.parametrize("value", ["yesterday", "D:20231301", "D:20230102250000", "D:2023-01-02", ""])
def test_pdf_dates_that_are_not_dates(value):
    with pytest.raises(ValueError, match=r"PDF date|valid date"):
        parse_pdf_date(value)


def test_an_unreadable_pdf_page_loses_its_own_text(tmp_path, write_config):
    pdf = text_pdf([[ENGLISH], ["Second page."]])
    one_bad = pdf.replace(b"/Kids [4 0 R 6 0 R]", b"/Kids [4 0 R 3 0 R]")  # page 2 is the font object
    record = records(read_all(tmp_path, write_config, {"half.pdf": one_bad}))["half.pdf"]
    assert (record["text"], record["page_count"]) == (ENGLISH, 2)
    assert record["warnings"] == ["pypdfium2: page 2: text not extracted: PdfiumError: Failed to load page."]
    none_good = pdf.replace(b"/Kids [4 0 R 6 0 R]", b"/Kids [3 0 R 3 0 R]")
    with pytest.raises(DocumentRejected, match=r"^corrupt PDF: no page could be read \(pypdfium2: page 1: "):
        extract_document(none_good, "application/pdf")


def test_pdfium_documents_are_closed_on_every_path():
    """Handles are closed when extraction returns or raises, not when the garbage collector gets to them."""
    from pypdfium2.internal.bases import ObjectTracker

    def open_handles() -> int:
        return sum(len(handles) for handles in ObjectTracker.values())

    pdf = text_pdf([[ENGLISH], ["Second page."]])
    inputs = [
        pdf,
        pdf.replace(b"/Kids [4 0 R 6 0 R]", b"/Kids [4 0 R 3 0 R]"),  # one page unreadable
        pdf.replace(b"/Kids [4 0 R 6 0 R]", b"/Kids [3 0 R 3 0 R]"),  # rejected after opening
        b"%PDF-1.4\n" + b"\x00" * 64,  # rejected by the open itself
        encrypted_pdf("user-secret"),
    ]
    before = open_handles()
    kept = []  # a kept exception keeps the extractor's frames, and anything not closed, alive
    for data in inputs:
        try:
            kept.append(extract_document(data, "application/pdf"))
        except DocumentRejected as exc:
            kept.append(exc)
    assert [type(item).__name__ for item in kept] == ["Extracted", "Extracted", *["DocumentRejected"] * 3]
    assert open_handles() == before


def test_html_extractor_option_is_checked(write_config, tmp_path):
    (tmp_path / "docs").mkdir()
    with pytest.raises(ConfigError, match=r"'sources.d.html_extractor' is 'readability': use basic"):
        load_config(write_config("sources: {d: {kind: documents, path: docs, html_extractor: readability}}"))


def test_bundled_sample_documents_all_land(tmp_path):
    """`make demo` ingests seeds/sample/documents: every file, the PDF and the DOCX included, lands."""
    import json

    from tests.conftest import PROJECT_ROOT

    sample = PROJECT_ROOT / "seeds" / "sample"
    config_path = tmp_path / "refinery.yml"
    config_path.write_text(f"sources: {{handbook: {{kind: documents, path: '{sample / 'documents'}'}}}}")
    config = load_config(config_path)
    items = list(build_source(config.sources["handbook"], config).read(SavedState()))
    found = records(items)
    listing = json.loads((sample / "EXPECTED.json").read_text())["documents"]["listing"]
    assert sorted(found) == [entry["path"] for entry in listing]
    assert [m.reason for m in items if isinstance(m, Quarantined)] == []
    pdf, docx = found["specs/shared-mime-info-spec.pdf"], found["python-docs/tutorial/appetite.docx"]
    assert (pdf["title"], pdf["page_count"], pdf["created_at"], pdf["language"]) == (
        "Shared MIME-info Database",
        2,
        "2022-04-29T17:19:08+00:00",
        "en",
    )
    assert pdf["text"].startswith("Shared MIME-info Database\nX Desktop Group")
    assert (docx["title"], docx["author"], docx["language"], docx["page_count"]) == (
        "Whetting Your Appetite",
        "Python Software Foundation",
        "en",
        None,
    )
    assert "Python is just the language for you." in docx["text"]


def test_a_section_named_like_boilerplate_is_content():
    from ingestion.sources.documents import extract_html

    page = """<body><div id="cookies">We use cookies.</div><div class="cookie-banner">Accept all</div>
        <section id="cookies"><h2>Cookies</h2><p>Send cookies with a request.</p></section>
        <div class="section" id="footer"><h2>Footer</h2><p>The footer element of a page.</p></div></body>"""
    assert extract_html(page) == (None, "Cookies\nSend cookies with a request.\nFooter\nThe footer element of a page.")


def test_docx_table_keeps_equal_cells_and_reads_a_merged_cell_once():
    import docx

    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    for column, value in enumerate(["0", "0", "1"]):
        table.cell(0, column).text = value
    merged = table.cell(1, 0).merge(table.cell(1, 1))
    merged.text = "spans two columns"
    table.cell(1, 2).text = "last"
    buffer = io.BytesIO()
    document.save(buffer)
    assert extract_document(buffer.getvalue(), DOCX_MIME).text == "0\t0\t1\nspans two columns\tlast"


def test_docx_with_a_bad_date_lands_with_the_file_time(tmp_path, write_config):
    import re

    original = zipfile.ZipFile(io.BytesIO(word_document(["Dated", ENGLISH])))
    damaged = io.BytesIO()
    with zipfile.ZipFile(damaged, "w") as archive:
        for item in original.infolist():
            data = original.read(item.filename)
            if item.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:created[^>]*>)[^<]*", rb"\1not a date", data)
            archive.writestr(item, data)
    record = records(read_all(tmp_path, write_config, {"dated.docx": damaged.getvalue()}))["dated.docx"]
    assert (record["created_at_from"], record["modified_at_from"]) == ("file", "document")
    assert record["text"] == f"Dated\n{ENGLISH}\nRoom\tCapacity\nHall A\t120\nAfter the table."
