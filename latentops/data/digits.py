"""scikit-learn's handwritten digits (1,797 real 8x8 images, labels 0-9), optionally upsampled."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from latentops.data._fingerprint import arrays_fingerprint
from latentops.data.base import Dataset
from latentops.errors import InvalidInputError

_MAX_UPSAMPLE = 16


class Digits(Dataset):
    """sklearn ``load_digits`` as (1, 8u, 8u) images in [0, 1] with a ``digit`` label column."""

    factor_names = ("digit",)

    def __init__(self, upsample: int = 1) -> None:
        if (
            isinstance(upsample, bool)
            or not isinstance(upsample, int)
            or not 1 <= upsample <= _MAX_UPSAMPLE
        ):
            raise InvalidInputError(
                f"upsample={upsample!r} must be an integer in [1, {_MAX_UPSAMPLE}]; "
                "use upsample=2 for 16x16 or 4 for 32x32 images"
            )
        from sklearn.datasets import load_digits  # seconds to import: only digits users pay

        bunch = load_digits()
        # sklearn stores 4-bit intensities 0..16 as float64
        self._images = (bunch.images / 16.0).astype(np.float32)  # (N, 8, 8)
        self._digit = bunch.target.astype(np.int64)  # (N,)
        self.upsample = upsample
        self.name = "digits"
        self.n_items = len(self._digit)
        self.factor_sizes = {"digit": 10}
        size = 8 * upsample
        self.x_shape = (1, size, size)
        self._ids = np.arange(self.n_items, dtype=np.int64)
        self.fingerprint = arrays_fingerprint(
            f"digits|upsample={upsample}|bilinear",
            {"images": self._images, "digit": self._digit},
        )

    def item_ids(self) -> np.ndarray:
        """Row indices 0..1796 of sklearn's digits."""
        return self._ids

    def factors(self, item_ids: np.ndarray) -> dict[str, np.ndarray]:
        """The ``digit`` label (0-9) of each item."""
        ids = self.check_item_ids(item_ids)
        return {"digit": self._digit[ids]}

    def _load(self, item_ids: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(self._images[item_ids]).unsqueeze(1)  # (B, 1, 8, 8)
        if self.upsample == 1:
            return x
        # bilinear is a convex combination of neighbours, so pixels stay in [0, 1]
        return F.interpolate(x, scale_factor=self.upsample, mode="bilinear", align_corners=False)
