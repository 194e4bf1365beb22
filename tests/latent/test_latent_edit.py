"""Direction edits, traversals and latent arithmetic: linearity, identities, errors."""

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from latentops.errors import InvalidInputError
from latentops.latent import (
    apply_direction,
    apply_directions,
    coordinate_traversal,
    direction_traversal,
    latent_arithmetic,
)

PROPS = settings(max_examples=40, deadline=None)
finite = st.floats(-10, 10, allow_nan=False, width=64)


def latents(n: int = 6, d: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@PROPS
@given(
    arrays(np.float64, (4, 3), elements=finite),
    arrays(np.float64, 3, elements=finite),
    st.floats(-5, 5),
    st.floats(-5, 5),
    st.floats(-2, 2),
)
def test_apply_direction_is_linear_in_strength(z, v, s1, s2, a):
    assume(np.linalg.norm(v) > 1e-3)
    z, v = torch.from_numpy(z), torch.from_numpy(v)

    def edit(s):
        return apply_direction(z, v, s) - z  # (4, 3)

    torch.testing.assert_close(edit(a * s1 + s2), a * edit(s1) + edit(s2), atol=1e-9, rtol=1e-9)
    # the edit moves every latent by exactly |strength| along v/|v|
    torch.testing.assert_close(edit(s1).norm(dim=-1), torch.full((4,), abs(s1)).double())


def test_apply_direction_normalizes_v_and_batches_strengths(device):
    z = latents().to(device)
    v = torch.tensor([0.0, 3.0, 0.0, 4.0, 0.0], dtype=torch.float64, device=device)
    s = torch.tensor([-2.0, 0.0, 0.5, 5.0], dtype=torch.float64)
    out = apply_direction(z, v, s)  # (4, 6, 5)
    assert out.shape == (4, 6, 5) and out.device.type == device.type
    textbook = torch.stack([z + float(si) * v / v.norm() for si in s])
    torch.testing.assert_close(out, textbook)
    torch.testing.assert_close(apply_direction(z, 10 * v, s), out)
    assert torch.equal(out[1], z)  # strength 0 is the identity


def test_per_latent_directions_broadcast():
    z = latents()
    V = latents(seed=1)  # one direction per latent
    out = apply_direction(z, V, [1.0, 2.0])  # (2, 6, 5)
    for i in range(6):
        torch.testing.assert_close(out[:, i], apply_direction(z[i], V[i], [1.0, 2.0]))


def test_direction_traversal_matches_textbook_loop():
    z = latents()
    v = latents(1, seed=2)[0]
    strengths = [-3.0, -1.5, 0.0, 1.5, 3.0]
    out = direction_traversal(z, v, strengths)  # (5, 6, 5)
    u = v / v.norm()
    torch.testing.assert_close(out, torch.stack([z + s * u for s in strengths]))
    assert direction_traversal(z, v, 2.0).shape == (1, 6, 5)


def test_apply_directions_sums_unit_directions():
    z = latents()
    V = latents(3, seed=3)  # (k=3, d)
    U = V / V.norm(dim=-1, keepdim=True)
    alphas = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    expected = z + sum(a * u for a, u in zip(alphas, U, strict=True))
    torch.testing.assert_close(apply_directions(z, V, alphas), expected)
    raw = z + sum(a * v for a, v in zip(alphas, V, strict=True))
    torch.testing.assert_close(apply_directions(z, V, alphas, normalize=False), raw)
    grid = torch.stack([alphas, 2 * alphas, torch.zeros(3, dtype=torch.float64)])  # (S=3, k=3)
    out = apply_directions(z, V, grid)  # (3, 6, 5)
    assert out.shape == (3, 6, 5)
    torch.testing.assert_close(out[1] - z, 2 * (expected - z))
    torch.testing.assert_close(out[2], z)
    # one direction is apply_direction
    torch.testing.assert_close(apply_directions(z, V[:1], [1.5]), apply_direction(z, V[0], 1.5))


def test_coordinate_traversal_sets_one_coordinate(device):
    z = latents().to(device)
    values = [-2.0, 0.0, 3.0]
    out = coordinate_traversal(z, 2, values)  # (3, 6, 5)
    assert out.shape == (3, 6, 5)
    for i, val in enumerate(values):
        assert (out[i, :, 2] == val).all()
        keep = [0, 1, 3, 4]
        assert torch.equal(out[i][:, keep], z[:, keep])
    torch.testing.assert_close(coordinate_traversal(z, -3, values), out)
    assert z[:, 2].ne(-2.0).all()  # the input was not modified


@PROPS
@given(
    arrays(np.float64, 4, elements=finite),
    arrays(np.float64, 4, elements=finite),
    arrays(np.float64, 4, elements=finite),
)
def test_arithmetic_identities(a, b, c):
    a, b, c = (torch.from_numpy(x) for x in (a, b, c))
    torch.testing.assert_close(latent_arithmetic(a, b, c), a - b + c)
    torch.testing.assert_close(latent_arithmetic(a, b, b), a)
    torch.testing.assert_close(latent_arithmetic(a, a, c), c)
    # (a - b + c) - (c - b + a) = 0: the analogy is symmetric in a and c
    torch.testing.assert_close(latent_arithmetic(a, b, c), latent_arithmetic(c, b, a))


def test_arithmetic_over_sets_uses_means():
    A, B, C = latents(4, seed=4), latents(7, seed=5), latents(2, seed=6)
    out = latent_arithmetic(A, B, C)  # (d,)
    torch.testing.assert_close(out, A.mean(0) - B.mean(0) + C.mean(0))
    torch.testing.assert_close(latent_arithmetic(A, B, C[0]), A.mean(0) - B.mean(0) + C[0])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_edits_have_no_nan(device, dtype):
    z = (torch.randn(32, 8, generator=torch.Generator().manual_seed(7)) * 100).to(device, dtype)
    v = torch.full((8,), 1e-3).to(device, dtype)  # squares underflow in half precision
    out = apply_direction(z, v, torch.linspace(-3, 3, 5))
    assert out.dtype == dtype and torch.isfinite(out).all()
    ref = apply_direction(z.double(), v.double(), torch.linspace(-3, 3, 5))
    torch.testing.assert_close(out.double(), ref, rtol=1e-2, atol=1.0)
    assert torch.isfinite(apply_directions(z, torch.stack([v, -2 * v]), [1.0, 1.0])).all()
    assert torch.isfinite(latent_arithmetic(z, z[:3], z[4])).all()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: apply_direction(torch.ones(2, 3), torch.zeros(3), 1.0),
            r"v \(shape \(3,\)\) has norm 0",
        ),
        (lambda: apply_direction(torch.ones(2, 3), torch.ones(4), 1.0), r"v has shape \(4,\).*d=3"),
        (
            lambda: apply_direction(torch.ones(2, 3), torch.tensor([1.0, float("nan"), 0]), 1.0),
            r"v contains 1 NaN",
        ),
        (lambda: apply_direction(torch.ones(0, 3), torch.ones(3), 1.0), r"z is empty"),
        (
            lambda: apply_direction(torch.ones(2, 3), torch.ones(3), [[1.0]]),
            r"strength has shape \(1, 1\)",
        ),
        (
            lambda: apply_direction(torch.ones(2, 3), torch.ones(3), float("inf")),
            r"strength contains 1 NaN/inf",
        ),
        (
            lambda: direction_traversal(torch.ones(2, 3), torch.ones(3), "big"),
            r"strength must be a float",
        ),
        (
            lambda: apply_directions(torch.ones(2, 3), torch.ones(3), [1.0]),
            r"V has shape \(3,\).*\(k, d\)",
        ),
        (
            lambda: apply_directions(torch.ones(2, 3), torch.eye(3)[[0, 1]] * 0, [1.0, 1.0]),
            r"norm 0 at index \(0,\)",
        ),
        (
            lambda: apply_directions(torch.ones(2, 3), torch.eye(3), [1.0, 2.0]),
            r"alphas has shape \(2,\).*k=3",
        ),
        (
            lambda: apply_directions(torch.ones(2, 3), torch.eye(3), torch.ones(0, 3)),
            r"alphas is empty",
        ),
        (
            lambda: coordinate_traversal(torch.ones(2, 3), 3, [0.0]),
            r"dim=3 is out of range.*size 3",
        ),
        (lambda: coordinate_traversal(torch.ones(2, 3), 1.0, [0.0]), r"dim must be an int"),
        (
            lambda: latent_arithmetic(torch.ones(2, 2, 3), torch.ones(3), torch.ones(3)),
            r"a has shape \(2, 2, 3\)",
        ),
        (lambda: latent_arithmetic(torch.ones(3), torch.ones(0, 3), torch.ones(3)), r"b is empty"),
        (
            lambda: latent_arithmetic(torch.ones(3), torch.ones(3), torch.ones(5, 4)),
            r"c has shape \(5, 4\).*d=3",
        ),
    ],
)
def test_bad_input_raises_helpful_errors(call, match):
    with pytest.raises(InvalidInputError, match=match):
        call()
