"""Quantities for humans (one home for how the CLI and the report print them)."""

from __future__ import annotations


def size(n: int | float) -> str:
    """Bytes for humans, in powers of 1000: 950 B, 1.2 MB."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"
