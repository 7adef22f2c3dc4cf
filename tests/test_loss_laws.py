"""Limit laws of ranking losses: semicircle (Hermite), uniform (IPO), the numerical limit with a field."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special

from collapse_theory.laws.loss_laws import field_limit, loss_limit, semicircle_law
from collapse_theory.problems.losses import LossSpecError
from collapse_theory.solver.loss_solver import solve_loss


def test_hermite_zeros_follow_the_semicircle_on_unscaled_rewards() -> None:
    # rewards = zeros of H_n / sqrt(BETA (n-1)) -> semicircle on [-sqrt(2/BETA), sqrt(2/BETA)], no rescaling
    beta, n = 0.5, 400
    rewards = scipy.special.roots_hermite(n)[0] / np.sqrt(beta * (n - 1))
    law = loss_limit(f"log+free+l2:{beta}")
    assert law.support == pytest.approx((-2.0, 2.0))
    levels = (np.arange(1, n + 1) - 0.5) / n
    assert np.max(np.abs(np.sort(rewards) - law.ppf(levels))) < 0.05


def test_ipo_limit_is_uniform_on_minus_tau_tau() -> None:
    law = loss_limit("ipo:0.625")  # TAU = 1/(2 * 0.625) = 0.8
    rewards = solve_loss("ipo:0.625", 16).rewards
    assert rewards is not None
    assert law.support == pytest.approx((-0.8, 0.8))
    assert np.max(np.abs(law.cdf(rewards) - (np.arange(16, 0, -1) - 0.5) / 16)) < 1e-12


def test_numerical_field_limit_matches_the_semicircle() -> None:
    law = field_limit("log+free+l2:0.5", cells=60)
    exact = semicircle_law(2.0)
    x = np.linspace(-2.5, 2.5, 101)
    assert np.max(np.abs(law.cdf(x) - exact.cdf(x))) < 2e-3
    assert law.variance == pytest.approx(1.0, abs=5e-3)
    assert abs(law.mean) < 1e-12


def test_unbounded_losses_have_no_limit_law() -> None:
    with pytest.raises(LossSpecError, match="no limit law"):
        loss_limit("bradley-terry")
