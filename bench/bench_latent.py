"""Batched latent ops vs the textbook loops they replace, for N latents x 64 steps.

Usage: python bench/bench_latent.py [--quick]
Baselines are the loops from the reference text (shared/latent-space-manipulation.txt):
a Python loop over alphas / strengths followed by torch.stack. Its interpolate and slerp
take one [1, d] pair (slerp: torch.dot on squeezed vectors), so N pairs also loop over pairs;
further lines compare against stronger baselines that loop over alphas only, batched over
latents, where both sides are bound by writing the same (steps, N, d) output.
Each figure is the median of a few runs; ratio = baseline time / ours (speedup).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

from latentops.latent import apply_directions, direction_traversal, interpolate  # noqa: E402


def textbook_interpolate(z_a: torch.Tensor, z_b: torch.Tensor, steps: int) -> torch.Tensor:
    alphas = torch.linspace(0, 1, steps, device=z_a.device)
    zs = []
    for alpha in alphas:
        z = (1 - alpha) * z_a + alpha * z_b
        zs.append(z)
    return torch.stack(zs, dim=0)


def textbook_slerp(z_a: torch.Tensor, z_b: torch.Tensor, steps: int, eps: float = 1e-7):
    z_a = z_a.squeeze(0)
    z_b = z_b.squeeze(0)
    z_a_norm = F.normalize(z_a, dim=0)
    z_b_norm = F.normalize(z_b, dim=0)
    dot = torch.clamp(torch.dot(z_a_norm, z_b_norm), -1.0, 1.0)
    omega = torch.acos(dot)
    if omega.abs() < eps:
        return textbook_interpolate(z_a.unsqueeze(0), z_b.unsqueeze(0), steps)
    alphas = torch.linspace(0, 1, steps, device=z_a.device)
    zs = []
    for alpha in alphas:
        left = torch.sin((1 - alpha) * omega) / torch.sin(omega)
        right = torch.sin(alpha * omega) / torch.sin(omega)
        zs.append(left * z_a + right * z_b)
    return torch.stack(zs, dim=0)


def per_pair(fn: Callable, z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    # the textbook functions take one [1, d] pair; N pairs means N calls
    paths = [fn(a[None], b[None], steps).reshape(steps, -1) for a, b in zip(z0, z1, strict=True)]
    return torch.stack(paths, dim=1)  # (steps, N, d)


def slerp_alpha_loop(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    # the same formula batched over latents by hand, still looping over alphas
    omega = torch.acos((F.normalize(z0, dim=-1) * F.normalize(z1, dim=-1)).sum(-1, keepdim=True))
    zs = []
    for alpha in torch.linspace(0, 1, steps, device=z0.device):
        left = torch.sin((1 - alpha) * omega) / torch.sin(omega)
        right = torch.sin(alpha * omega) / torch.sin(omega)
        zs.append(left * z0 + right * z1)
    return torch.stack(zs, dim=0)


def textbook_direction_traversal(
    z: torch.Tensor, direction: torch.Tensor, strengths
) -> torch.Tensor:
    direction = direction / direction.norm()
    zs = []
    for strength in strengths:
        zs.append(z + strength * direction)
    return torch.stack(zs, dim=0)


def textbook_multi_edit(z: torch.Tensor, V: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    zs = []
    for row in alphas:  # one edit per row of strengths
        z_edit = z
        for a, v in zip(row, V, strict=True):
            z_edit = z_edit + a * (v / v.norm())
        zs.append(z_edit)
    return torch.stack(zs, dim=0)


def seconds(fn: Callable[[], torch.Tensor]) -> float:
    start = time.perf_counter()
    out = fn()
    if out.is_cuda:
        torch.cuda.synchronize()  # kernels run asynchronously; time their completion
    return time.perf_counter() - start


def report(name: str, ours: Callable, baseline: Callable, repeats: int) -> None:
    # one call each checks both give the same numbers and doubles as the warm-up
    torch.testing.assert_close(ours(), baseline(), atol=1e-4, rtol=1e-4)
    # alternate the two so a noisy neighbour on a shared machine slows both alike
    runs = [(seconds(ours), seconds(baseline)) for _ in range(repeats)]
    t_ours = statistics.median(r[0] for r in runs)
    t_base = statistics.median(r[1] for r in runs)
    print(
        f"{name}: ours {t_ours * 1e3:.1f} ms, baseline {t_base * 1e3:.1f} ms, "
        f"ratio {t_base / t_ours:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer latents, for a smoke run")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default: cpu)")
    args = parser.parse_args()
    n, d, steps, k = (1_000, 64, 64, 8) if args.quick else (10_000, 64, 64, 8)
    repeats = 5
    g = torch.Generator().manual_seed(0)
    z0, z1, v, V, alphas = (
        torch.randn(shape, generator=g).to(args.device)
        for shape in ((n, d), (n, d), (d,), (k, d), (steps, k))
    )
    strengths = torch.linspace(-3, 3, steps, device=args.device)
    threads = torch.get_num_threads()
    print(f"# {n} latents x {steps} steps, d={d}, {args.device}, cpu threads={threads}", flush=True)

    # equal norms: there our slerp is exactly the textbook formula, so outputs can be compared
    z1s = z1 / z1.norm(dim=-1, keepdim=True) * z0.norm(dim=-1, keepdim=True)
    report(
        f"slerp {n} pairs vs textbook per-pair alpha loop (speedup)",
        lambda: interpolate(z0, z1s, steps, "slerp"),
        lambda: per_pair(textbook_slerp, z0, z1s, steps),
        3,  # the baseline takes seconds per run
    )
    report(
        f"lerp {n} pairs vs textbook per-pair alpha loop (speedup)",
        lambda: interpolate(z0, z1, steps, "lerp"),
        lambda: per_pair(textbook_interpolate, z0, z1, steps),
        3,
    )
    report(
        f"slerp {n} pairs vs alpha loop batched over latents (speedup)",
        lambda: interpolate(z0, z1s, steps, "slerp"),
        lambda: slerp_alpha_loop(z0, z1s, steps),
        repeats,
    )
    report(
        f"lerp {n} pairs vs textbook alpha loop batched over latents (speedup)",
        lambda: interpolate(z0, z1, steps, "lerp"),
        lambda: textbook_interpolate(z0, z1, steps),
        repeats,
    )
    report(
        f"direction_traversal {n} latents vs textbook strength loop (speedup)",
        lambda: direction_traversal(z0, v, strengths),
        lambda: textbook_direction_traversal(z0, v, strengths),
        repeats,
    )
    report(
        f"apply_directions k={k} {n} latents vs loop over alpha rows and directions (speedup)",
        lambda: apply_directions(z0, V, alphas),
        lambda: textbook_multi_edit(z0, V, alphas),
        repeats,
    )


if __name__ == "__main__":
    main()
