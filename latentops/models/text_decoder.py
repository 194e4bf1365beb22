"""Decoding text latents: the ``TextDecoder`` interface and its retrieval implementation.

A sentence encoder has no decoder, so an edited z is "decoded" by a ``TextDecoder``: anything
with ``decode_texts(z, exclude) -> DecodedTexts``. ``RetrievalDecoder`` returns the nearest
corpus sentence by cosine (the source item itself left out, so an edit never trivially
decodes to its own sentence) and the ids of the k nearest, which judges may average over (one
sentence changes only in steps as z moves, the mean over a neighbourhood moves smoothly); a
generative or inversion decoder can implement the same method later. ``decode_with_fidelity``
adds the round trip: re-embed what was returned and take its cosine to the edited z, so a user
sees when the corpus has nothing near an edit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from latentops.errors import InvalidInputError

NEAREST_K = 5  # neighbours a retrieval decoder returns for judges to average over


@dataclass(frozen=True)
class DecodedTexts:
    """One text per edited z: the text, where it came from (item id or -1) and its distance."""

    text: list[str]
    item_id: np.ndarray  # (M,) int64: the corpus item retrieved; -1 for generated text
    distance: np.ndarray  # (M,) float64: cosine distance of the text's z to the edited z
    fidelity: np.ndarray | None = None  # (M,) cosine of the re-embedded text to the edited z
    # (M, k) int64: the k nearest corpus items, nearest first (column 0 is item_id); None when
    # the text is generated, so judges score the text itself
    neighbours: np.ndarray | None = None


class TextDecoder(Protocol):
    """Turns edited latents (M, d) into texts; ``exclude`` (M,) item ids must not be returned."""

    def decode_texts(self, z: torch.Tensor, exclude: np.ndarray | None = None) -> DecodedTexts: ...


class RetrievalDecoder:
    """Nearest corpus sentence by cosine distance (1 - cos) to each edited z, and its k nearest."""

    def __init__(
        self, corpus_z: torch.Tensor, item_id: np.ndarray, texts: Sequence[str], k: int = NEAREST_K
    ) -> None:
        if corpus_z.ndim != 2 or len(corpus_z) != len(item_id) or len(item_id) != len(texts):
            raise InvalidInputError(
                f"retrieval corpus has z {tuple(corpus_z.shape)}, {len(item_id)} ids and "
                f"{len(texts)} texts; pass one id and text per row of z"
            )
        if len(item_id) < 2:
            raise InvalidInputError(
                f"a retrieval corpus needs at least 2 sentences, got {len(item_id)}; encode more"
            )
        if k < 1:
            raise InvalidInputError(f"k={k} nearest sentences: pass k >= 1")
        self.k = min(k, len(item_id) - 1)  # one corpus row may be the excluded source
        self.unit = F.normalize(corpus_z.float(), dim=1)  # (N, d)
        self.item_id = np.asarray(item_id, np.int64)
        self.texts = list(texts)

    def decode_texts(self, z: torch.Tensor, exclude: np.ndarray | None = None) -> DecodedTexts:
        """The nearest corpus sentence to each z (M, d) and its k nearest, never ``exclude``."""
        if z.ndim != 2 or z.shape[1] != self.unit.shape[1]:
            raise InvalidInputError(
                f"z has shape {tuple(z.shape)}; the corpus holds d={self.unit.shape[1]} latents"
            )
        sim = F.normalize(z.float(), dim=1) @ self.unit.T  # (M, N) cosine
        if exclude is not None:
            own = torch.from_numpy(np.asarray(exclude, np.int64)[:, None] == self.item_id[None])
            sim = sim.masked_fill(own, -2.0)  # below any cosine: never chosen
        best, pos = sim.topk(self.k, dim=1)  # (M, k), nearest first
        pos = pos.numpy()
        return DecodedTexts(
            [self.texts[p] for p in pos[:, 0]],
            self.item_id[pos[:, 0]],
            (1.0 - best[:, 0].double()).numpy(),
            neighbours=self.item_id[pos],
        )


def embed_unique(encode: Callable[[list[str]], torch.Tensor], texts: Sequence[str]) -> torch.Tensor:
    """Unit embeddings (M, d) of ``texts``, encoding each distinct text once."""
    unique = sorted(set(texts))
    with torch.inference_mode():
        emb = F.normalize(encode(unique).float().cpu(), dim=1)  # (U, d)
    row = {t: i for i, t in enumerate(unique)}
    return emb[torch.tensor([row[t] for t in texts])]


def decode_with_fidelity(
    decoder: TextDecoder,
    encode: Callable[[list[str]], torch.Tensor],
    z: torch.Tensor,
    exclude: np.ndarray | None = None,
) -> DecodedTexts:
    """Decode z (M, d) and add the round trip: cosine of each re-embedded text to its z."""
    out = decoder.decode_texts(z, exclude)
    emb = embed_unique(encode, out.text)  # (M, d)
    fidelity = (emb * F.normalize(z.float().cpu(), dim=1)).sum(1).double().numpy()
    return replace(out, fidelity=fidelity)
