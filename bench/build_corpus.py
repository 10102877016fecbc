"""Copy the extraction-quality corpus under bench/data/ from two Debian documentation packages.

Run once on a machine with the packages installed (the output is committed, so the
benchmark itself needs neither the packages nor any network)::

    apt-get install -y python3.11-doc python-requests-doc python-attr-doc debian-reference-en  # Debian 12
    .venv/bin/python bench/build_corpus.py

What it writes (provenance and licences: bench/data/README.md):

- `python-docs/html/<page>.html` and `python-docs/reference/<page>.rst.txt`: a fixed
  sample of Sphinx pages of the Python 3.11 documentation with the reST source Sphinx
  built each from (`_sources/<page>.rst.txt`), byte-identical copies.
- `requests-docs/` and `attrs-docs/`: the same for hand-picked prose pages of the
  requests (alabaster theme) and attrs (sphinx_rtd_theme, MyST Markdown sources) docs.
- `debian-reference/html/chNN.en.html` and `debian-reference/reference/chNN.en.txt`: four
  chapters of the Debian Reference (DocBook XSL pages with navigation header and footer)
  and, as reference, the same chapter cut out of the book's plain-text edition.
- `debian-reference/pdf/ch03-04.en.pdf` and `debian-reference/reference/ch03-04.en.txt`:
  the PDF edition's pages of chapters 3 and 4 (found through the PDF outline), re-written
  by pypdf without other change, and the same chapters of the plain-text edition.
"""

from __future__ import annotations

import gzip
import re
import shutil
import sys
from pathlib import Path

PYTHON_HTML = Path("/usr/share/doc/python3.11/html")
# Two more Sphinx sites with other themes: requests (alabaster: a sidebar with the project's
# blurb, links and a donation note) and attrs (sphinx_rtd_theme: a side menu, breadcrumbs,
# footer buttons; its pages are MyST Markdown). Chosen by hand: pages whose source is prose,
# not only autodoc directives or `include`s of other files.
OTHER_SITES = {
    "requests-docs": (
        Path("/usr/share/doc/python-requests-doc/html"),
        [
            "community/faq",
            "community/out-there",
            "community/recommended",
            "community/release-process",
            "community/support",
            "community/vulnerabilities",
            "dev/contributing",
            "user/advanced",
            "user/authentication",
            "user/install",
            "user/quickstart",
        ],
    ),
    "attrs-docs": (
        Path("/usr/share/doc/python-attr-doc/html"),
        [
            "comparison",
            "examples",
            "extending",
            "glossary",
            "hashing",
            "how-does-it-work",
            "init",
            "names",
            "overview",
            "types",
            "why",
        ],
    ),
}
DEBIAN_REFERENCE = Path("/usr/share/debian-reference")
OUT = Path(__file__).resolve().parent / "data"
PYTHON_EVERY = 6  # every 6th candidate page: ~45 pages across every part of the docs
PYTHON_MIN_BYTES, PYTHON_MAX_BYTES = 8_000, 60_000  # keeps the corpus small and skips stub pages
SKIP_PAGES = re.compile(r"(^|/)(index|modules|contents|genindex|py-modindex|search)\.html$|^_|_setuptools_disclaimer")
PACKAGES = "python3.11-doc python-requests-doc python-attr-doc debian-reference-en"
HTML_CHAPTERS = (3, 4, 5, 8)  # 47–91 KB each; chapters 1, 2, 9–12 are 120–390 KB
PDF_CHAPTERS = (3, 4)


def python_docs() -> list[str]:
    candidates = sorted(
        path.relative_to(PYTHON_HTML).as_posix()
        for path in PYTHON_HTML.rglob("*.html")
        if PYTHON_MIN_BYTES <= path.stat().st_size <= PYTHON_MAX_BYTES
    )
    candidates = [page for page in candidates if not SKIP_PAGES.search(page)]
    chosen = []
    for page in candidates[::PYTHON_EVERY]:
        source = PYTHON_HTML / "_sources" / (page.removesuffix(".html") + ".rst.txt")
        if not source.is_file():
            continue
        for folder, origin in (("html", PYTHON_HTML / page), ("reference", source)):
            target = (
                OUT / "python-docs" / folder / (page if folder == "html" else f"{page.removesuffix('.html')}.rst.txt")
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(origin, target)
        chosen.append(page)
    return chosen


def other_sites() -> None:
    for site, (root, pages) in OTHER_SITES.items():
        for page in pages:
            source = next((root / "_sources").glob(f"{page}.*.txt"))
            targets = {
                root / f"{page}.html": OUT / site / "html" / f"{page}.html",
                source: OUT / site / "reference" / Path(page).parent / source.name,
            }
            for origin, target in targets.items():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(origin, target)
        print(f"{site}: {len(pages)} pages")


def book_chapters() -> dict[int, str]:
    """Chapter number → its text in the plain-text edition (from its 'Chapter N.' line to the next)."""
    text = gzip.decompress((DEBIAN_REFERENCE / "debian-reference.en.txt.gz").read_bytes()).decode("utf-8")
    starts = [(int(m.group(1)), m.start()) for m in re.finditer(r"^Chapter\s(\d+)\.\s", text, flags=re.MULTILINE)]
    ends = [start for _, start in starts[1:]] + [len(text)]
    return {number: text[start:end] for (number, start), end in zip(starts, ends, strict=True)}


def debian_reference() -> None:
    from pypdf import PdfReader, PdfWriter

    chapters = book_chapters()
    html_out, ref_out, pdf_out = (OUT / "debian-reference" / name for name in ("html", "reference", "pdf"))
    for folder in (html_out, ref_out, pdf_out):
        folder.mkdir(parents=True, exist_ok=True)
    for number in HTML_CHAPTERS:
        shutil.copyfile(DEBIAN_REFERENCE / f"ch{number:02d}.en.html", html_out / f"ch{number:02d}.en.html")
        (ref_out / f"ch{number:02d}.en.txt").write_text(chapters[number], encoding="utf-8")
    reader = PdfReader(DEBIAN_REFERENCE / "debian-reference.en.pdf")
    starts = [reader.get_destination_page_number(item) for item in reader.outline if not isinstance(item, list)]
    first, last = starts[PDF_CHAPTERS[0] - 1], starts[PDF_CHAPTERS[-1]]  # outline entry i is chapter i + 1
    writer = PdfWriter()
    for index in range(first, last):
        writer.add_page(reader.pages[index])
    writer.add_metadata(reader.metadata)
    writer.compress_identical_objects(remove_duplicates=True, remove_unreferenced=True)
    name = f"ch{PDF_CHAPTERS[0]:02d}-{PDF_CHAPTERS[-1]:02d}.en"
    writer.write(pdf_out / f"{name}.pdf")
    (ref_out / f"{name}.txt").write_text("".join(chapters[n] for n in PDF_CHAPTERS), encoding="utf-8")
    print(f"debian-reference: HTML chapters {HTML_CHAPTERS}, PDF pages {first + 1}–{last} (chapters {PDF_CHAPTERS})")


def main() -> int:
    for needed in (PYTHON_HTML, DEBIAN_REFERENCE, *(root for root, _ in OTHER_SITES.values())):
        if not needed.is_dir():
            print(f"{needed} is missing: apt-get install -y {PACKAGES}", file=sys.stderr)
            return 1
    for folder in ("python-docs", "debian-reference", *OTHER_SITES):
        shutil.rmtree(OUT / folder, ignore_errors=True)
    pages = python_docs()
    print(f"python-docs: {len(pages)} pages")
    other_sites()
    debian_reference()
    return 0


if __name__ == "__main__":
    sys.exit(main())
