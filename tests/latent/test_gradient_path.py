"""gradient_path follows a curved code where a straight edit direction does not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentops.directions import fit_direction
from latentops.errors import InvalidInputError
from latentops.latent import direction_traversal, gradient_path, kernel_attribute

STRENGTHS = torch.linspace(-0.6, 0.6, 7)


def _arc_code(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """theta in [0, 1.8 pi] laid on the unit circle in dims 0-1; dim 2 is noise."""
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0, 1.8 * np.pi, n)
    z = np.c_[np.cos(theta), np.sin(theta), 0.1 * rng.standard_normal(n)]
    return torch.from_numpy(z).float(), torch.from_numpy(theta).float()


def _angle(z: torch.Tensor) -> torch.Tensor:
    """The planted attribute read back from a latent: its angle on the arc, in [0, 2 pi)."""
    return torch.atan2(z[..., 1], z[..., 0]) % (2 * np.pi)


def _monotone_share(path: torch.Tensor) -> float:
    """Share of items whose attribute rises strictly along the strength grid: path (S, N, d)."""
    theta = _angle(path)  # (S, N)
    return float((theta.diff(dim=0) > 0).all(dim=0).float().mean())


def test_gradient_path_moves_a_curved_attribute_monotonically_where_a_line_fails():
    z_ref, theta_ref = _arc_code(1500, seed=0)
    z, theta = _arc_code(200, seed=1)
    inner = (theta > 0.7) & (theta < 1.8 * np.pi - 0.7)  # room on the arc for |s| <= 0.6
    z = z[inner]
    straight = fit_direction(z_ref.numpy(), theta_ref.numpy(), "ridge")
    v = torch.from_numpy(straight.vector.copy())  # (d,)
    line = direction_traversal(z, v, STRENGTHS)  # (S, N, d)
    path = gradient_path(z, kernel_attribute(z_ref, theta_ref), STRENGTHS, step=0.05)
    assert _monotone_share(line) < 0.8  # works near some items, the wrong way elsewhere
    assert _monotone_share(path) > 0.95
    # s is arc length along the code: |s| = 0.6 on the unit circle moves theta by ~0.6 rad
    moved = (_angle(path[-1]) - _angle(path[0])).median()
    assert float(moved) == pytest.approx(1.2, abs=0.2)
    torch.testing.assert_close(path[3], z)  # strength 0 is the item itself


def test_gradient_path_bad_inputs():
    z_ref, theta_ref = _arc_code(50, seed=2)
    f = kernel_attribute(z_ref, theta_ref)
    with pytest.raises(InvalidInputError, match="step=0"):
        gradient_path(z_ref, f, [1.0], step=0)
    with pytest.raises(InvalidInputError, match="y_ref must hold 50"):
        kernel_attribute(z_ref, theta_ref[:10])
    with pytest.raises(InvalidInputError, match=r"pass a batch \(N, d\)"):
        gradient_path(z_ref[0], f, [1.0])
