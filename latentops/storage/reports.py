"""Reporting queries over the store that need more than SQL.

The SQL reports are macros (see ``latentops.storage.sql``): ``latent_stats(tbl, factor)``
and ``score_summary()``. Codebook usage needs the VQ model's codebook to turn each stored
token vector back into its code id, so it loads the model from the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import torch

from latentops.latent import codebook_usage as _usage
from latentops.latent import quantize
from latentops.models import require

if TYPE_CHECKING:
    from latentops.storage.store import Store


def latent_stats(store: Store, table: str, factor: str) -> pa.Table:
    """Per value of ``factor``: n, mean |z| and per-dimension mean / std of z (SQL macro)."""
    return store.sql("SELECT * FROM latent_stats(?, ?)", [f"latents.{table}", factor])


def codebook_usage(
    store: Store, table: str, version: int | None = None
) -> tuple[pa.Table, dict[str, Any]]:
    """How often each code of a VQ model is used in ``table``: rows (code, count, fraction).

    Also returns a summary: codebook size K, tokens, used / dead codes and the perplexity
    exp(H(usage)) (1 = one code does everything, K = uniform use).
    """
    latents = store.latent_table(table)
    ref = latents.card.get("model")
    model, _ = store.models.load(ref)
    fix = f"latent table {table!r} holds other latents; codebook usage is for VQ models"
    require(model, "codebook", f"{ref} ({model.arch})", "codebook usage", fix)
    codebook = model.codebook  # (K, D)
    D, h, w = model.token_shape
    snap = store.snapshot(table, version)
    zmap = torch.from_numpy(snap.z).view(-1, D, h, w)  # (N, D, h, w), as the model flattens it
    indices, _ = quantize(zmap, codebook.to(zmap.dtype))  # (N, h, w)
    K = int(codebook.shape[0])
    counts, perplexity = _usage(indices, K)  # (K,)
    counts = counts.numpy()
    total = int(counts.sum())
    rows = pa.table(
        {
            "code": pa.array(np.arange(K)),
            "count": pa.array(counts.astype(np.int64)),
            "fraction": pa.array(counts / max(total, 1)),
        }
    )
    summary = {
        "table": table,
        "version": snap.version,
        "model": ref,
        "codebook_size": K,
        "tokens": total,
        "used_codes": int((counts > 0).sum()),
        "dead_codes": int((counts == 0).sum()),
        "perplexity": perplexity,
    }
    return rows, summary
