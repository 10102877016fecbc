"""bench/labeling.py: the generated crowd has the planted accuracies and class balance, for a seed."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.unit

sys.path.insert(0, str(PROJECT_ROOT / "bench"))
import labeling  # noqa: E402


def test_generated_crowd_has_the_planted_accuracies_and_priors() -> None:
    items, classes = 20_000, 5
    truth, annotator, answer = labeling.generate(items, classes, seed=3)
    annotators = len(labeling.ACCURACIES)
    assert len(answer) == items * annotators
    assert np.array_equal(annotator[:annotators], np.arange(annotators))
    correct = (answer.reshape(items, annotators) == truth[:, None]).mean(axis=0)
    assert np.abs(correct - np.array(labeling.ACCURACIES)).max() < 0.015
    shares = np.bincount(truth, minlength=classes) / items
    assert np.abs(shares - np.array(labeling.PRIORS)).max() < 0.015
    # Every class is answered.
    assert set(np.unique(answer)) == set(range(classes))
    # Deterministic for a seed, different for another.
    again = labeling.generate(items, classes, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((truth, annotator, answer), again, strict=True))
    assert not np.array_equal(labeling.generate(items, classes, seed=4)[2], answer)
