"""Extraction quality of the documents source on real public documents (corpus: bench/data/).

Scores each text extractor against a reference text of the same document: bag-of-words
token precision, recall and F1 (tokens are lower-cased runs of letters and digits, counted
with multiplicity: an extractor that repeats the navigation on every page pays for each
copy), micro-averaged over a corpus (overlaps and totals summed over its documents), plus
the mean of the per-document F1, and speed in documents per second (best of `--repeat`
runs, one process, one core). Method, corpus and results: docs/document-extraction.md.

    .venv/bin/python bench/extraction_quality.py            # prints Markdown tables
    .venv/bin/python bench/extraction_quality.py --json out.json --repeat 3
    .venv/bin/python bench/extraction_quality.py --only pdf    # the Debian Reference PDF alone

HTML extractors: `trafilatura` (what the documents source runs, `include_comments=False`),
trafilatura with `favor_precision` / `favor_recall`, `basic` (the source's standard-library
stripper) and `naive` (drop <script>/<style> and every tag, keep all other text — no
boilerplate removal at all). PDF: the source's `extract_pdf` (pypdfium2), pypdfium2's
plain `get_text_range()` per page, pypdf `plain` and `layout` extraction modes (pypdf is a dev
dependency), and pdfminer.six when it is importable (not a Refinery dependency:
`PYTHONPATH=<folder with it> .venv/bin/python bench/extraction_quality.py`). DOCX: a
round trip — each Python-docs reference text written as a DOCX by python-docx (paragraphs,
plus one table) and read back by the source's DOCX extractor.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import io
import json
import os
import platform
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingestion.sources.documents import (  # the repository root is put on sys.path above
    captured_library_warnings,
    extract_docx,
    extract_html,
    extract_html_trafilatura,
    extract_pdf,
)

DATA = Path(__file__).resolve().parent / "data"
TOKEN = re.compile(r"[^\W_]+")


# -- scoring -------------------------------------------------------------------------------------
def tokens(text: str) -> Counter[str]:
    return Counter(match.group().lower() for match in TOKEN.finditer(text))


@dataclass
class Score:
    overlap: int = 0
    extracted: int = 0
    reference: int = 0
    f1s: list[float] = field(default_factory=list)
    seconds: float = float("inf")
    documents: int = 0
    empty: int = 0

    def add(self, extracted: str, reference: str) -> None:
        got, want = tokens(extracted), tokens(reference)
        overlap = sum((got & want).values())
        self.overlap += overlap
        self.extracted += sum(got.values())
        self.reference += sum(want.values())
        self.documents += 1
        self.empty += not extracted.strip()
        p = overlap / sum(got.values()) if got else 0.0
        r = overlap / sum(want.values()) if want else 0.0
        self.f1s.append(2 * p * r / (p + r) if p + r else 0.0)

    @property
    def precision(self) -> float:
        return self.overlap / self.extracted if self.extracted else 0.0

    @property
    def recall(self) -> float:
        return self.overlap / self.reference if self.reference else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def row(self, name: str) -> dict:
        return {
            "extractor": name,
            "documents": self.documents,
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "f1": round(self.f1, 3),
            "mean_document_f1": round(sum(self.f1s) / len(self.f1s), 3) if self.f1s else 0.0,
            "empty_outputs": self.empty,
            "docs_per_second": round(self.documents / self.seconds, 1) if self.seconds else None,
        }


# -- references ----------------------------------------------------------------------------------
HIDDEN_DIRECTIVES = {
    "index",
    "toctree",
    "highlight",
    "sectionauthor",
    "moduleauthor",
    "testsetup",
    "testcleanup",
    "only",
    "raw",
    "image",
    "figure",
    "literalinclude",
    "include",
    "currentmodule",
    "module",
    "tabularcolumns",
}
ADORNMENT = re.compile(r"([=\-~^\"'`#*+.<>_:])\1{2,}")
DIRECTIVE = re.compile(r"\.\.\s+([\w:-]+)::\s*(.*)")
ROLE = re.compile(r":[\w:+.-]+:`([^`]*)`")
LINK = re.compile(r"`([^`<]*?)\s*<[^>`]*>`_{1,2}")


def rest_to_text(source: str) -> str:
    """The words a reader sees in a Sphinx page built from this reST (an approximation, see the docs)."""
    lines: list[str] = []
    skip_deeper_than: int | None = None
    for line in source.splitlines():
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if skip_deeper_than is not None:
            if not stripped or indent > skip_deeper_than:
                continue
            skip_deeper_than = None
        directive = DIRECTIVE.match(stripped)
        if directive:
            name, argument = directive.groups()
            if name.split(":")[-1] in HIDDEN_DIRECTIVES:
                skip_deeper_than = indent
            else:
                lines.append(argument)  # a signature or a title is shown; the directive's name is not
            continue
        if stripped.startswith(".."):  # a comment or a link target: not shown
            skip_deeper_than = indent
            continue
        if ADORNMENT.fullmatch(stripped) or re.fullmatch(r":[\w-]+:(\s.*)?", stripped):
            continue  # section underlines; directive options and page fields
        lines.append(line)
    text = "\n".join(lines)
    text = LINK.sub(r"\1", text)
    text = ROLE.sub(_role_text, text)
    return text


MYST_ROLE = re.compile(r"\{[\w:+.-]+\}`([^`]*)`")
MARKDOWN_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def myst_to_text(source: str) -> str:
    """The words a reader sees in a page built from MyST Markdown (same approximation as `rest_to_text`)."""
    lines = []
    for line in source.splitlines():
        stripped = line.strip()
        if re.fullmatch(r"\(.+\)=", stripped) or stripped.startswith(("<!--", ":::")):
            continue  # link targets, comments, colon fences
        fence = re.fullmatch(r"`{3,}\s*(\{[\w:-]+\})?\s*(.*)", stripped)
        if fence:
            lines.append(fence.group(2) if fence.group(1) else "")  # a directive's argument is shown, the fence not
            continue
        if re.fullmatch(r":[\w-]+:(\s.*)?", stripped):
            continue  # directive options
        lines.append(line)
    text = "\n".join(lines)
    text = MARKDOWN_LINK.sub(r"\1", text)
    return MYST_ROLE.sub(_role_text, text)


def _role_text(match: re.Match) -> str:
    content = match.group(1)
    if content.endswith(">") and "<" in content:
        return content[: content.rindex("<")]
    if content.startswith("~"):
        return content[1:].rsplit(".", 1)[-1]
    return content.lstrip("!")


# -- extractors ----------------------------------------------------------------------------------
SCRIPT_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
TAG = re.compile(r"<[^>]+>")


def naive(content: str) -> str:
    """Every visible character: scripts and styles dropped, tags replaced by spaces, entities decoded."""
    return html.unescape(TAG.sub(" ", SCRIPT_STYLE.sub(" ", content)))


def trafilatura_with(**options: bool) -> Callable[[str], str]:
    import trafilatura

    def extract(content: str) -> str:
        return trafilatura.extract(content, include_comments=False, include_tables=True, **options) or ""

    return extract


HTML_EXTRACTORS: dict[str, Callable[[str], str]] = {
    "trafilatura (as the source calls it)": extract_html_trafilatura,
    "trafilatura favor_precision": trafilatura_with(favor_precision=True),
    "trafilatura favor_recall": trafilatura_with(favor_recall=True),
    "basic (stdlib stripper, Refinery default)": lambda content: extract_html(content)[1],
    "naive strip-all-tags": naive,
}


# -- corpora -------------------------------------------------------------------------------------
SPHINX_SITES = {
    "python-docs": "python-docs (Sphinx, python_docs_theme)",
    "requests-docs": "requests-docs (Sphinx, alabaster)",
    "attrs-docs": "attrs-docs (Sphinx, sphinx_rtd_theme, MyST)",
}


def sphinx_site(folder: str) -> list[tuple[str, str, str]]:
    pages = []
    for page in sorted((DATA / folder / "html").rglob("*.html")):
        relative = page.relative_to(DATA / folder / "html").as_posix().removesuffix(".html")
        source = next((DATA / folder / "reference").glob(f"{relative}.*.txt"))
        convert = myst_to_text if source.name.endswith(".md.txt") else rest_to_text
        pages.append((relative, page.read_text(encoding="utf-8"), convert(source.read_text(encoding="utf-8"))))
    return pages


def html_corpora() -> dict[str, list[tuple[str, str, str]]]:
    """corpus name → [(name, html, reference text)]."""
    corpora = {title: sphinx_site(folder) for folder, title in SPHINX_SITES.items()}
    debian = []
    for page in sorted((DATA / "debian-reference" / "html").glob("*.html")):
        reference = DATA / "debian-reference" / "reference" / page.name.replace(".html", ".txt")
        debian.append((page.name, page.read_text(encoding="utf-8"), reference.read_text(encoding="utf-8")))
    corpora["debian-reference (DocBook XSL)"] = debian
    return corpora


def timed(run: Callable[[], list[str]], repeat: int) -> tuple[list[str], float]:
    best, outputs = float("inf"), []
    for _ in range(repeat):
        started = time.perf_counter()
        outputs = run()
        best = min(best, time.perf_counter() - started)
    return outputs, best


def bench_html(repeat: int) -> dict[str, list[dict]]:
    results = {}
    for corpus, documents in html_corpora().items():
        rows = []
        for name, extractor in HTML_EXTRACTORS.items():
            with captured_library_warnings():
                outputs, seconds = timed(lambda ex=extractor, docs=documents: [ex(c) for _, c, _ in docs], repeat)
            score = Score()
            for output, (_, _, reference) in zip(outputs, documents, strict=True):
                score.add(output, reference)
            score.seconds = seconds
            rows.append(score.row(name))
        results[corpus] = rows
    return results


def pdf_extractors() -> dict[str, Callable[[bytes], str]]:
    """The source's extractor (pypdfium2), plain pypdfium2, pypdf in both modes, and pdfminer.six if installed."""
    import pypdfium2

    def pdfium_plain(raw: bytes) -> str:
        document = pypdfium2.PdfDocument(raw)
        try:
            return "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
        finally:
            document.close()

    extractors = {
        "pypdfium2 (Refinery: extract_pdf)": lambda raw: extract_pdf(raw).text,
        "pypdfium2 get_text_range()": pdfium_plain,
    }
    try:  # a dev dependency, the source's extractor until pypdfium2 replaced it
        from pypdf import PdfReader

        def pypdf_mode(mode: str) -> Callable[[bytes], str]:
            return lambda raw: "\n".join(
                page.extract_text(extraction_mode=mode) for page in PdfReader(io.BytesIO(raw)).pages
            )

        extractors |= {"pypdf plain": pypdf_mode("plain"), "pypdf layout": pypdf_mode("layout")}
    except ImportError:
        pass
    try:  # not a Refinery dependency: `pip install pdfminer.six` to compare
        from pdfminer.high_level import extract_text

        extractors["pdfminer.six (not installed by Refinery)"] = lambda raw: extract_text(io.BytesIO(raw))
    except ImportError:
        pass
    return extractors


def bench_pdf(repeat: int) -> list[dict]:
    import pypdfium2

    rows = []
    for pdf in sorted((DATA / "debian-reference" / "pdf").glob("*.pdf")):
        reference = (DATA / "debian-reference" / "reference" / pdf.name.replace(".pdf", ".txt")).read_text("utf-8")
        raw = pdf.read_bytes()
        document = pypdfium2.PdfDocument(raw)
        pages = len(document)
        document.close()
        for name, extractor in pdf_extractors().items():
            with captured_library_warnings():
                outputs, seconds = timed(lambda ex=extractor, raw=raw: [ex(raw)], repeat)
            score = Score()
            score.add(outputs[0], reference)
            score.seconds = seconds
            row = score.row(name)
            row.update(document=pdf.name, pages=pages, pages_per_second=round(pages / seconds, 1))
            rows.append(row)
    return rows


def bench_docx(repeat: int) -> list[dict]:
    """Round trip: reference texts written as DOCX by python-docx, read back by the source."""
    import docx

    texts = [text for _, _, text in sphinx_site("python-docs")]
    files = []
    for text in texts:
        document = docx.Document()
        paragraphs = [" ".join(block.split()) for block in re.split(r"\n\s*\n", text) if block.strip()]
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
        words = TOKEN.findall(text)[:6]
        table = document.add_table(rows=2, cols=3)
        for index, word in enumerate(words):
            table.cell(index // 3, index % 3).text = word
        buffer = io.BytesIO()
        document.save(buffer)
        files.append((buffer.getvalue(), "\n".join([*paragraphs, " ".join(words)])))
    outputs, seconds = timed(lambda: [extract_docx(raw).text for raw, _ in files], repeat)
    score = Score()
    for output, (_, reference) in zip(outputs, files, strict=True):
        score.add(output, reference)
    score.seconds = seconds
    return [score.row("python-docx round trip (extract_docx)")]


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    libraries = {}
    for name in ("trafilatura", "pypdf", "python-docx", "lxml", "pdfminer.six", "pypdfium2"):
        with contextlib.suppress(PackageNotFoundError):
            libraries[name] = version(name)
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), **libraries}


def markdown(title: str, rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = [f"### {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per extractor; the fastest counts (default 3)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--only", choices=("html", "pdf", "docx"), action="append", help="run only this part (repeatable; default all)"
    )
    args = parser.parse_args(argv)
    parts = set(args.only or ("html", "pdf", "docx"))
    if not (DATA / "python-docs").is_dir():
        print(f"{DATA} has no corpus: see bench/data/README.md", file=sys.stderr)
        return 1
    results: dict = {"machine": machine()}
    print("Machine: " + ", ".join(f"{k} {v}" for k, v in results["machine"].items()) + "\n")
    if "html" in parts:
        results["html"] = bench_html(args.repeat)
        for corpus, rows in results["html"].items():
            print(markdown(f"HTML: {corpus}", rows))
    if "pdf" in parts:
        results["pdf"] = bench_pdf(args.repeat)
        print(markdown("PDF: debian-reference chapters 3-4", results["pdf"]))
    if "docx" in parts:
        results["docx"] = bench_docx(args.repeat)
        print(markdown("DOCX round trip", results["docx"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
