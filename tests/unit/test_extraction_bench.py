"""bench/extraction_quality.py: the scores it reports and the corpus it reads."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "extraction_quality", PROJECT_ROOT / "bench" / "extraction_quality.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_bag_of_words_scores(bench):
    score = bench.Score()
    score.add("Main text, main TEXT and a menu", "main text main text here")
    # extracted: main×2 text×2 and a menu (7); reference: main×2 text×2 here (5); shared 4
    assert (score.precision, score.recall, round(score.f1, 4)) == (
        4 / 7,
        4 / 5,
        round(2 * (4 / 7) * 0.8 / (4 / 7 + 0.8), 4),
    )
    score.add("", "lost")
    assert (score.overlap, score.extracted, score.reference, score.empty, score.f1s[-1]) == (4, 7, 6, 1, 0.0)


def test_rest_and_myst_sources_become_reader_text(bench):
    rest = """.. _target:

*****
Title
*****

.. index:: hidden entry

See :func:`sorted`, :ref:`the guide <guide>` and `Python <https://python.org>`_.

.. note::

   Shown text.
"""
    assert bench.tokens(bench.rest_to_text(rest)) == bench.tokens("Title See sorted the guide and Python Shown text")
    myst = "(label)=\n# Why\n\n{func}`attr.s` and [docs](https://x.org).\n```{doctest}\n>>> 1\n```\n"
    assert bench.tokens(bench.myst_to_text(myst)) == bench.tokens("Why attr.s and docs >>> 1")


def test_corpus_is_complete(bench):
    corpora = bench.html_corpora()
    assert {name: len(pages) for name, pages in corpora.items()} == {
        "python-docs (Sphinx, python_docs_theme)": 43,
        "requests-docs (Sphinx, alabaster)": 11,
        "attrs-docs (Sphinx, sphinx_rtd_theme, MyST)": 11,
        "debian-reference (DocBook XSL)": 4,
    }
    sizes = sorted(sum(bench.tokens(reference).values()) for pages in corpora.values() for _, _, reference in pages)
    assert sizes[0] >= 20 and sum(sizes) > 70_000  # a few pages are mostly a table of contents
