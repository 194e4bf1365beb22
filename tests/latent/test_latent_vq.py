"""VQ ops: nearest-code quantization vs brute force, token-map edits, codebook usage."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from latentops.errors import InvalidInputError
from latentops.latent import (
    codebook_usage,
    codes_to_latents,
    quantize,
    replace_codes,
    swap_code,
)

PROPS = settings(max_examples=40, deadline=None)
finite = st.floats(-100, 100, allow_nan=False, width=64)


@st.composite
def vectors_and_codebook(draw):
    D = draw(st.integers(1, 6))
    h = draw(arrays(np.float64, (draw(st.integers(1, 20)), D), elements=finite))
    E = draw(arrays(np.float64, (draw(st.integers(1, 12)), D), elements=finite))
    return torch.from_numpy(h), torch.from_numpy(E), draw(st.integers(1, 8))


@PROPS
@given(vectors_and_codebook())
def test_quantize_returns_the_true_nearest_code(args):
    h, E, chunk = args
    idx, z_q = quantize(h, E, chunk_size=chunk)
    brute = ((h[:, None, :] - E[None, :, :]) ** 2).sum(-1)  # (N, K) by direct differences
    best = brute.min(dim=1).values
    chosen = brute.gather(1, idx[:, None]).squeeze(1)
    scale = 1e-12 * (1 + (h**2).sum(1) + (E**2).sum(1).max())  # rounding of |e|^2 - 2 h.e
    assert (chosen <= best + scale).all()
    # where the nearest code is unique by more than rounding, it is exactly brute force's
    second = brute.topk(min(2, E.shape[0]), dim=1, largest=False).values[:, -1]
    clear = (second - best) > 10 * scale
    assert torch.equal(idx[clear], brute.argmin(1)[clear])
    assert torch.equal(z_q, E[idx])


def test_token_maps_are_channel_first_and_match_flat_quantization(device):
    g = torch.Generator().manual_seed(0)
    E = torch.randn(32, 8, generator=g).to(device)
    h = torch.randn(3, 8, 5, 7, generator=g).to(device)  # (B, D, H, W)
    idx, z_q = quantize(h, E)
    assert idx.shape == (3, 5, 7) and idx.dtype == torch.long
    assert z_q.shape == (3, 8, 5, 7) and z_q.is_contiguous()
    flat_idx, _ = quantize(h.permute(0, 2, 3, 1).reshape(-1, 8), E)
    assert torch.equal(idx.reshape(-1), flat_idx)
    assert torch.equal(z_q, codes_to_latents(idx, E))
    assert torch.equal(z_q[1, :, 2, 3], E[idx[1, 2, 3]])
    # 1-D token sequences (B, D, L) work the same way
    idx1, z1 = quantize(h[:, :, 0, :], E)
    assert idx1.shape == (3, 7) and torch.equal(idx1, idx[:, 0, :])
    assert torch.equal(z1, z_q[:, :, 0, :])


def test_chunk_size_does_not_change_the_result():
    g = torch.Generator().manual_seed(1)
    E = torch.randn(100, 4, generator=g)
    h = torch.randn(2, 4, 9, 9, generator=g)
    ref, _ = quantize(h, E)
    for chunk in (1, 7, 64, 10_000):
        assert torch.equal(quantize(h, E, chunk_size=chunk)[0], ref)


def test_codebook_entries_quantize_to_themselves():
    E = torch.randn(50, 16, generator=torch.Generator().manual_seed(2))
    idx, z_q = quantize(E, E)
    assert torch.equal(idx, torch.arange(50)) and torch.equal(z_q, E)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_quantize_in_half_precision(device, dtype):
    g = torch.Generator().manual_seed(3)
    E = (torch.randn(64, 8, generator=g) * 100).to(device, dtype)  # |e|^2 overflows float16
    h = E[torch.randint(0, 64, (4, 6, 6), generator=g)].permute(0, 3, 1, 2)  # (4, 8, 6, 6)
    h = h + (0.01 * torch.randn(h.shape, generator=g)).to(device, dtype)
    idx, z_q = quantize(h, E)
    ref, _ = quantize(h.double(), E.double())
    assert torch.equal(idx, ref) and z_q.dtype == dtype and torch.isfinite(z_q).all()


def test_replace_codes_by_mask_and_by_coordinates():
    idx = torch.arange(24).reshape(2, 3, 4) % 5
    mask = torch.zeros(2, 3, 4, dtype=torch.bool)
    mask[0, 1, :] = True
    out = replace_codes(idx, mask, 4, num_codes=5)
    assert (out[0, 1] == 4).all() and torch.equal(out[~mask], idx[~mask])
    coords = torch.tensor([[1, 2, 3], [0, 0, 0]])
    out = replace_codes(idx, coords, 2)
    assert out[1, 2, 3] == 2 and out[0, 0, 0] == 2
    assert int((out != idx).sum()) == int(idx[1, 2, 3] != 2) + int(idx[0, 0, 0] != 2)
    assert torch.equal(idx, torch.arange(24).reshape(2, 3, 4) % 5)  # input untouched
    flat = replace_codes(torch.tensor([0, 1, 2, 3]), [1, 3], 0)
    assert flat.tolist() == [0, 0, 2, 0]


def test_swap_code_replaces_every_occurrence():
    idx = torch.tensor([[3, 1, 3], [0, 3, 2]])
    out = swap_code(idx, 3, 7, num_codes=8)
    assert out.tolist() == [[7, 1, 7], [0, 7, 2]]
    assert torch.equal(swap_code(idx, 5, 0), idx)  # absent code: unchanged copy


def test_codes_to_latents_decodes_flat_and_token_map_indices():
    E = torch.arange(12.0).reshape(4, 3)
    assert torch.equal(codes_to_latents(torch.tensor([2, 0]), E), E[[2, 0]])
    out = codes_to_latents(torch.tensor([[[1, 3]]]), E)  # (1, 1, 2) -> (1, 3, 1, 2)
    assert out.shape == (1, 3, 1, 2) and torch.equal(out[0, :, 0, 1], E[3])


def test_codebook_usage_counts_and_perplexity():
    counts, ppl = codebook_usage(torch.tensor([[0, 1], [2, 3]]), 4)
    assert counts.tolist() == [1, 1, 1, 1] and ppl == pytest.approx(4.0)
    counts, ppl = codebook_usage(torch.full((3, 5), 2), 6)
    assert counts.tolist() == [0, 0, 15, 0, 0, 0] and ppl == pytest.approx(1.0)
    idx = torch.tensor([0, 0, 0, 1, 2, 2])
    p = np.array([3, 1, 2]) / 6
    assert codebook_usage(idx, 5)[1] == pytest.approx(math.exp(-(p * np.log(p)).sum()))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: quantize(torch.ones(4, 3), torch.ones(8, 5)), r"h has shape \(4, 3\).*D=5"),
        (lambda: quantize(torch.ones(2, 3, 4, 4), torch.ones(8, 4)), r"channel-first.*D=4"),
        (
            lambda: quantize(torch.ones(4, 3), torch.ones(2, 8, 3)),
            r"codebook has shape \(2, 8, 3\)",
        ),
        (lambda: quantize(torch.ones(0, 3), torch.ones(8, 3)), r"h is empty"),
        (lambda: quantize(torch.tensor([[float("nan"), 0.0]]), torch.ones(8, 2)), r"h contains 1"),
        (lambda: quantize(torch.ones(4, 3), torch.ones(8, 3), chunk_size=0), r"chunk_size=0"),
        (lambda: codes_to_latents(torch.tensor([0, 9]), torch.ones(8, 3)), r"code id 9.*\[0, 8\)"),
        (lambda: codes_to_latents(torch.tensor([0.0, 1.0]), torch.ones(8, 3)), r"torch.float32"),
        (lambda: replace_codes(torch.zeros(2, 2, dtype=torch.long), [[2, 0]], 1), r"row \[2, 0\]"),
        (lambda: replace_codes(torch.zeros(2, 2, dtype=torch.long), [[1]], 1), r"\(M, 2\)"),
        (
            lambda: replace_codes(
                torch.zeros(2, 2, dtype=torch.long), torch.ones(3, dtype=torch.bool), 1
            ),
            r"mask has shape \(3,\)",
        ),
        (
            lambda: replace_codes(torch.zeros(4, dtype=torch.long), [0], 8, num_codes=8),
            r"new_code=8",
        ),
        (lambda: swap_code(torch.zeros(4, dtype=torch.long), -1, 2), r"old=-1 is not a valid"),
        (lambda: swap_code(torch.tensor([-3, 0]), 0, 2), r"negative code id -3"),
        (lambda: codebook_usage(torch.tensor([0, 4]), 4), r"code id 4.*K=4"),
        (lambda: codebook_usage(torch.tensor([0]), 0), r"num_codes=0"),
        (lambda: codebook_usage(torch.tensor([], dtype=torch.long), 3), r"at least one code id"),
    ],
)
def test_bad_input_raises_helpful_errors(call, match):
    with pytest.raises(InvalidInputError, match=match):
        call()
