"""The one place that imports jaxopt: implicit differentiation of optimality conditions.

jaxopt is no longer developed, but its ``custom_root`` is the tool made for this job:
differentiate the solution x*(theta) of F(x, theta) = 0 through the implicit function
theorem,

.. math::

    \\frac{\\partial x^*}{\\partial \\theta}
    = -\\Big(\\frac{\\partial F}{\\partial x}\\Big)^{-1} \\frac{\\partial F}{\\partial \\theta},

instead of unrolling the solver's iterations (Blondel et al., "Efficient and Modular
Implicit Differentiation", NeurIPS 2022). Keeping it behind this module means a future
replacement (optimistix, or a hand-written ``jax.custom_vjp``) touches one file.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from collapse_theory._core.precision import float64
    >>> def optimality(x, theta):          # x^2 = theta
    ...     return x * x - theta
    >>> def newton(x, theta):
    ...     for _ in range(30):
    ...         x = x - (x * x - theta) / (2 * x)
    ...     return x
    >>> square_root = implicit_root(optimality, newton)
    >>> with float64():
    ...     slope = jax.grad(lambda t: square_root(jnp.asarray(1.0), t))(jnp.asarray(4.0))
    >>> round(float(slope), 12)            # d sqrt(t)/dt at t = 4
    0.25
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

with warnings.catch_warnings():
    # jaxopt announces on import that it is unmaintained; we know, and keep it behind this wall
    warnings.simplefilter("ignore", DeprecationWarning)
    from jaxopt import linear_solve
    from jaxopt.implicit_diff import custom_root, root_jvp


def implicit_root(
    optimality: Callable[..., Any], solver: Callable[..., Any], *, solve: Callable[..., Any] | None = None
) -> Callable[..., Any]:
    """``solver(initial, *parameters)`` made differentiable by implicit differentiation.

    Args:
        optimality: ``F(x, *parameters)``, zero at the solution; same signature as ``solver``.
        solver: returns x with ``F(x, *parameters) = 0``; any algorithm (its iterations are
            not differentiated).

        solve: ``solve(matvec, b)`` for the linear system of the implicit derivative
            (default: a dense LU of the Jacobian that ``matvec`` applies, materialised by
            autodiff; pass a closed-form solve when that Jacobian is large).

    Returns:
        The solver, whose reverse-mode derivative with respect to the parameters is
        -(dF/dx)^(-1) dF/dparameters at the returned solution.
    """
    return custom_root(optimality, solve=linear_solve.solve_lu if solve is None else solve)(solver)


def root_tangent(
    optimality: Callable[..., Any],
    solution: Any,
    parameters: tuple[Any, ...],
    tangents: tuple[Any, ...],
    solve: Callable[..., Any],
) -> Any:
    """Forward-mode implicit derivative of a root: dx = -(dF/dx)^(-1) (dF/dparameters) dparameters.

    One Jacobian-vector product of ``optimality`` in the parameters and one linear solve:
    the right mode for one scalar parameter and many unknowns, where the reverse mode of
    :func:`implicit_root` would run one vector-Jacobian product per unknown.
    """
    return root_jvp(optimality, solution, parameters, tangents, solve=solve)
