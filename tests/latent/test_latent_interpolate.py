"""lerp / slerp / interpolate: endpoints, norms, angular speed, scipy cross-check, errors."""

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial import geometric_slerp

from latentops.errors import InvalidInputError, LatentOpsError
from latentops.latent import interpolate, lerp, slerp

PROPS = settings(max_examples=40, deadline=None)
finite = st.floats(-10, 10, allow_nan=False, width=64)


@st.composite
def unit_pairs(draw, min_angle=0.0, max_angle=math.pi):
    """Two float64 unit vectors of the same dim d in [2, 12] at an angle in the given range."""
    d = draw(st.integers(2, 12))
    a = draw(arrays(np.float64, d, elements=finite))
    b = draw(arrays(np.float64, d, elements=finite))
    assume(np.linalg.norm(a) > 1e-3 and np.linalg.norm(b) > 1e-3)
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    angle = math.atan2(np.linalg.norm(b - (a @ b) * a), a @ b)
    assume(min_angle <= angle <= max_angle)
    return torch.from_numpy(a), torch.from_numpy(b), angle


def angle_between(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Stable angle between the rows of x and y (float64)."""
    x = x / x.norm(dim=-1, keepdim=True)
    y = y / y.norm(dim=-1, keepdim=True)
    return 2 * torch.atan2((x - y).norm(dim=-1), (x + y).norm(dim=-1))


@PROPS
@given(unit_pairs(), st.integers(2, 17))
def test_slerp_keeps_unit_norm(pair, steps):
    u0, u1, _ = pair
    path = interpolate(u0, u1, steps, method="slerp")  # (steps, d)
    torch.testing.assert_close(path.norm(dim=-1), torch.ones(steps, dtype=torch.float64))


@PROPS
@given(unit_pairs(max_angle=math.pi - 1e-5), st.integers(3, 17))
def test_slerp_has_constant_angular_speed(pair, steps):
    # (within eps of antipodal the circle is replaced on purpose; tested separately below)
    u0, u1, angle = pair
    path = interpolate(u0, u1, steps, method="slerp")  # (steps, d)
    hops = angle_between(path[:-1], path[1:])  # (steps - 1,)
    expected = torch.full_like(hops, angle / (steps - 1))
    torch.testing.assert_close(hops, expected, atol=1e-9, rtol=0)


@PROPS
@given(unit_pairs(min_angle=1e-3, max_angle=math.pi - 1e-3), st.integers(2, 9))
def test_slerp_matches_scipy_geometric_slerp(pair, steps):
    u0, u1, _ = pair
    t = np.linspace(0, 1, steps)
    ref = geometric_slerp(u0.numpy(), u1.numpy(), t)  # (steps, d)
    ours = slerp(u0, u1, torch.from_numpy(t))
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-10)


@PROPS
@given(
    arrays(np.float64, (3, 5), elements=finite),
    arrays(np.float64, (3, 5), elements=finite),
    st.sampled_from(["lerp", "slerp"]),
    st.integers(2, 9),
)
def test_endpoints_are_exact(z0, z1, method, steps):
    assume((np.linalg.norm(z0, axis=1) > 0).all() and (np.linalg.norm(z1, axis=1) > 0).all())
    z0, z1 = torch.from_numpy(z0), torch.from_numpy(z1)
    path = interpolate(z0, z1, steps, method=method)  # (steps, 3, 5)
    assert path.shape == (steps, 3, 5)
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("method", ["lerp", "slerp"])
def test_endpoints_exact_and_no_nan_in_every_dtype(device, dtype, method):
    g = torch.Generator().manual_seed(0)
    big = 1e4  # |z0 - z1| reaches ~8e4 > float16's max 65504: naive half math overflows
    z0 = (torch.randn(64, 16, generator=g) * big).to(device, dtype)
    z1 = (-torch.randn(64, 16, generator=g) * big).to(device, dtype)
    path = interpolate(z0, z1, 11, method=method)  # (11, 64, 16)
    assert path.dtype == dtype and path.device.type == device.type
    assert torch.isfinite(path).all()
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)
    ref = interpolate(z0.double(), z1.double(), 11, method=method)
    tol = {torch.float16: 2e-3, torch.bfloat16: 1e-2}.get(dtype, 1e-5)
    torch.testing.assert_close(path.double(), ref, rtol=tol, atol=tol * big)


@PROPS
@given(unit_pairs(), st.floats(1e-7, 1e-3), st.sampled_from([1.0, 0.2, 5.0]))
def test_lerp_and_slerp_agree_for_near_parallel_vectors(pair, delta, r1):
    u0, u1, _ = pair
    z0 = u0
    z1 = r1 * (u0 + delta * u1)  # angle to z0 is at most ~delta
    omega = float(angle_between(z0, z1))
    r0, r1 = 1.0, float(z1.norm())
    t = torch.linspace(0, 1, 7, dtype=torch.float64)
    # Equal norms: they differ by the chord sag, O(r omega^2). Unequal norms: lerp's angle
    # advances non-uniformly in t, adding a first-order O(omega |r1 - r0|) term.
    tol = omega * abs(r1 - r0) + max(r0, r1) * omega**2 + 1e-12
    torch.testing.assert_close(slerp(z0, z1, t), lerp(z0, z1, t), atol=tol, rtol=0)


def test_parallel_vectors_fall_back_to_lerp():
    z0 = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
    t = torch.linspace(0, 1, 5, dtype=torch.float64)
    torch.testing.assert_close(slerp(z0, 3 * z0, t), lerp(z0, 3 * z0, t), atol=1e-15, rtol=0)
    torch.testing.assert_close(slerp(z0, z0, t), z0.expand(5, 1, 3))


def test_equal_norms_give_textbook_slerp():
    g = torch.Generator().manual_seed(1)
    z0 = torch.randn(6, 9, generator=g, dtype=torch.float64)
    z1 = torch.randn(6, 9, generator=g, dtype=torch.float64)
    z1 = z1 / z1.norm(dim=-1, keepdim=True) * z0.norm(dim=-1, keepdim=True)  # same norms
    omega = torch.acos((z0 * z1).sum(-1, keepdim=True) / (z0.norm(dim=-1, keepdim=True) ** 2))
    ts = torch.linspace(0, 1, 8, dtype=torch.float64)
    textbook = torch.stack(
        [
            (torch.sin((1 - a) * omega) * z0 + torch.sin(a * omega) * z1) / torch.sin(omega)
            for a in ts
        ]
    )
    torch.testing.assert_close(slerp(z0, z1, ts), textbook, atol=1e-12, rtol=0)


def test_unequal_norms_slerp_direction_and_lerp_norm():
    g = torch.Generator().manual_seed(2)
    z0 = torch.randn(4, 7, generator=g, dtype=torch.float64)
    z1 = 3.0 * torch.randn(4, 7, generator=g, dtype=torch.float64)
    r0, r1 = z0.norm(dim=-1), z1.norm(dim=-1)
    t = torch.linspace(0, 1, 9, dtype=torch.float64)
    path = slerp(z0, z1, t)  # (9, 4, 7)
    torch.testing.assert_close(path.norm(dim=-1), (1 - t[:, None]) * r0 + t[:, None] * r1)
    unit_path = slerp(z0 / r0[:, None], z1 / r1[:, None], t)
    torch.testing.assert_close(path / path.norm(dim=-1, keepdim=True), unit_path)


def test_batched_and_broadcast_match_per_pair(device):
    g = torch.Generator().manual_seed(3)
    z0 = torch.randn(2, 3, 5, generator=g, dtype=torch.float64).to(device)
    z1 = torch.randn(5, generator=g, dtype=torch.float64).to(device)  # broadcast against z0
    t = torch.tensor([0.0, 0.25, 0.6, 1.0], dtype=torch.float64)
    for fn in (lerp, slerp):
        out = fn(z0, z1, t)  # (4, 2, 3, 5)
        assert out.shape == (4, 2, 3, 5)
        for i in range(2):
            for j in range(3):
                for k, tk in enumerate(t.tolist()):
                    torch.testing.assert_close(out[k, i, j], fn(z0[i, j], z1, tk))


def test_t_shapes():
    z0, z1 = torch.randn(10, 4), torch.randn(10, 4)
    assert slerp(z0, z1, 0.3).shape == (10, 4)
    assert slerp(z0, z1, torch.tensor(0.3)).shape == (10, 4)
    assert slerp(z0, z1, [0.1, 0.2, 0.9]).shape == (3, 10, 4)
    assert lerp(z0, z1, np.array([0.5])).shape == (1, 10, 4)


def test_lerp_extrapolates_linearly():
    z0, z1 = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 0.5])
    torch.testing.assert_close(lerp(z0, z1, [-1.0, 2.0]), torch.stack([2 * z0 - z1, 2 * z1 - z0]))


def test_antipodal_pairs_take_a_deterministic_great_circle():
    u = torch.tensor([[0.6, 0.0, 0.8], [0.0, 1.0, 0.0]], dtype=torch.float64)
    t = torch.linspace(0, 1, 9, dtype=torch.float64)
    path = slerp(u, -u, t)  # (9, 2, 3)
    torch.testing.assert_close(path.norm(dim=-1), torch.ones(9, 2, dtype=torch.float64))
    hops = angle_between(path[:-1], path[1:])
    torch.testing.assert_close(hops, torch.full_like(hops, math.pi / 8))
    # the midpoint lies on the coordinate axis where |u| is smallest, made orthogonal to u
    torch.testing.assert_close(path[4], torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]).double())
    assert torch.equal(path, slerp(u, -u, t))
    # unequal norms: the radius still goes linearly from |z0| to |z1|
    torch.testing.assert_close(
        slerp(u, -3 * u, 0.5).norm(dim=-1), torch.tensor([2.0, 2.0]).double()
    )


def test_one_dimensional_antipodal_falls_back_to_lerp():
    z0, z1 = torch.tensor([2.0]), torch.tensor([-1.0])
    torch.testing.assert_close(slerp(z0, z1, [0.0, 0.5, 1.0]), lerp(z0, z1, [0.0, 0.5, 1.0]))


def test_matches_scipy_for_many_pairs_at_once():
    g = np.random.default_rng(4)
    a, b = g.normal(size=(50, 6)), g.normal(size=(50, 6))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    t = np.linspace(0, 1, 13)
    ours = slerp(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(t)).numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no antipodes here, scipy must not warn
        ref = np.stack([geometric_slerp(a[i], b[i], t) for i in range(50)], axis=1)
    np.testing.assert_allclose(ours, ref, atol=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: slerp(torch.zeros(2, 3), torch.ones(2, 3), 0.5),
            r"z0 has a zero vector at index \(0,\)",
        ),
        (lambda: slerp(torch.ones(3), torch.zeros(3), 0.5), r"z1 has a zero vector"),
        (lambda: lerp(torch.ones(4, 3), torch.ones(4, 5), 0.5), r"shape \(4, 5\).*d=3"),
        (
            lambda: lerp(torch.ones(4, 3), torch.ones(2, 3), 0.5),
            r"\(4, 3\).*\(2, 3\).*do not broadcast",
        ),
        (
            lambda: lerp(torch.tensor([1.0, float("nan")]), torch.ones(2), 0.5),
            r"z0 contains 1 NaN/inf",
        ),
        (
            lambda: slerp(torch.ones(2), torch.tensor([float("inf"), 1.0]), 0.5),
            r"z1 contains 1 NaN/inf",
        ),
        (lambda: lerp(torch.ones(0, 3), torch.ones(0, 3), 0.5), r"z0 is empty \(shape \(0, 3\)\)"),
        (lambda: lerp(torch.ones(3), torch.ones(3), torch.ones(2, 2)), r"t has shape \(2, 2\)"),
        (lambda: lerp(torch.ones(3), torch.ones(3), float("nan")), r"t contains 1 NaN/inf"),
        (lambda: lerp(torch.ones(3), torch.ones(3), []), r"t is empty"),
        (lambda: slerp(torch.ones(3), -torch.ones(3), [0.5, 1.5]), r"t in \[0, 1\].*1\.5"),
        (lambda: slerp(torch.ones(3), torch.ones(3), 0.5, eps=0.0), r"eps=0\.0"),
        (lambda: interpolate(torch.ones(3), torch.ones(3), 1), r"steps=1 must be an int >= 2"),
        (lambda: interpolate(torch.ones(3), torch.ones(3), 4, "cubic"), r"method='cubic'"),
        (lambda: lerp(torch.ones(3, dtype=torch.long), torch.ones(3), 0.5), r"dtype torch.int64"),
        (lambda: lerp([1.0, 2.0], torch.ones(2), 0.5), r"z0 must be a torch.Tensor"),
    ],
)
def test_bad_input_raises_helpful_errors(call, match):
    with pytest.raises(InvalidInputError, match=match) as info:
        call()
    assert isinstance(info.value, LatentOpsError) and isinstance(info.value, ValueError)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_tensors_on_two_devices_raise():
    with pytest.raises(InvalidInputError, match=r"z0 is on cpu but z1 is on cuda"):
        lerp(torch.ones(3), torch.ones(3, device="cuda"), 0.5)
