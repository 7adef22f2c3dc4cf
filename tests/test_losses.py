"""Loss specs: terms, presets, canonical strings, errors (collapse_theory.problems.losses)."""

from __future__ import annotations

import numpy as np
import pytest

from collapse_theory.problems.losses import LossSpecError, lipo_weights, margin_matrix, parse_loss


@pytest.mark.parametrize(
    ("spec", "canonical"),
    [
        ("bradley-terry", "log-sigmoid:1+free"),
        ("open-assistant", "log-sigmoid:1+free+l2:0.001"),
        ("trl-center:0.01", "log-sigmoid:1+free+center:0.01"),
        ("ipo:0.5", "ipo:0.5"),
        ("ipo:0.5+free", "ipo:0.5"),
        ("ipo:0.5+bounded", "ipo:0.5+bounded"),
        ("listmle", "plackett-luce:1+free"),
        ("open-assistant+rank-margin:0.1", "log-sigmoid:1+free+l2:0.001+rank-margin:0.1"),
        ("lipo+margin:0.2+log-sigmoid:1", "log-sigmoid:1+margin:0.2+lipo"),
        ("log+free+l2:1e+3", "log+free+l2:1000"),
    ],
)
def test_presets_and_canonical_specs_parse_back(spec: str, canonical: str) -> None:
    loss = parse_loss(spec)
    assert loss.spec == canonical
    assert parse_loss(loss.spec) == loss


def test_a_plain_utility_means_what_it_means_today() -> None:
    loss = parse_loss("power:0.5")
    assert loss.is_plain_utility and not loss.free and loss.spec == "power:0.5"
    assert not parse_loss("power:0.5+margin:0.1").is_plain_utility


def test_regulariser_strength_matches_the_pair_sums() -> None:
    # sum_{i<j} (r_i + r_j)^2 = (n - 2) sum r^2 + (sum r)^2; l2 gives BETA (n-1)/2 sum r^2
    rng = np.random.default_rng(0)
    r = rng.normal(size=6)
    pairs = [(i, j) for i in range(6) for j in range(i + 1, 6)]
    centre = sum((r[i] + r[j]) ** 2 for i, j in pairs)
    assert centre == pytest.approx(4 * np.sum(r**2) + np.sum(r) ** 2)
    r = r - r.mean()
    centre = sum((r[i] + r[j]) ** 2 for i, j in pairs)
    assert parse_loss("log+center:2").regulariser_strength(6) * np.sum(r**2) == pytest.approx(2 * centre)
    l2 = 0.5 * 0.3 * sum(r[i] ** 2 + r[j] ** 2 for i, j in pairs)
    assert parse_loss("log+l2:0.3").regulariser_strength(6) * np.sum(r**2) == pytest.approx(l2)


def test_margins_and_lipo_weights() -> None:
    loss = parse_loss("log-sigmoid:1+margin:0.1+rank-margin:0.2")
    m = margin_matrix(loss, 3)
    assert m[0, 1] == pytest.approx(0.3) and m[0, 2] == pytest.approx(0.5) and m[1, 0] == 0.0
    w = lipo_weights(4)
    i, j = 0, 3  # ranks 1 and 4
    assert w[i, j] == pytest.approx(abs(2**3 - 2**0) * abs(1 / np.log2(2) - 1 / np.log2(5)))
    assert np.all(np.tril(w) == 0.0)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("log+ipo:1", "two objective terms"),
        ("free+l2:0.1", "no objective term"),
        ("log+wiggle", "unknown term 'wiggle'"),
        ("log+l2:-1", "l2 needs a finite number >= 0"),
        ("log+l2:nan", "l2 needs a finite number >= 0"),
        ("ipo:0", "ipo needs a finite number > 0"),
        ("plackett-luce:inf", "plackett-luce needs a finite number > 0"),
        ("log+free+bounded", "both free and bounded"),
        ("log+l2:1+l2:2", "the term l2 twice"),
        ("log++l2:1", "unknown term"),
        ("power:2", "parameter 2 out of range (0<G<1)"),
        ("log-sigmoid:nan", "out of range: not a finite number"),
        ("trl-center", "needs its coefficient"),
    ],
)
def test_bad_specs_raise_one_line_naming_the_problem(spec: str, words: str) -> None:
    with pytest.raises(LossSpecError) as error:
        parse_loss(spec)
    assert words in str(error.value)
    assert "\n" not in str(error.value)
    assert isinstance(error.value, ValueError)
