"""Shared fixtures for the latent-math tests: devices and dtypes to run on."""

import pytest
import torch

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=[
            pytest.mark.gpu,
            pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
        ],
    ),
]

LOW_PRECISION = [torch.float16, torch.bfloat16]


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Every test taking ``device`` runs on CPU, and on CUDA when one is present."""
    return torch.device(request.param)
