"""Torch autoencoders behind one protocol: encode(x) -> z, decode(z) -> x, loss(x)."""

from latentops.models.ae import AE, AEConfig
from latentops.models.base import Autoencoder, EncodeOutput, LossOutput
from latentops.models.batching import (
    MemoryEstimate,
    available_host_bytes,
    batch_for_budget,
    fit_batch_size,
    parse_batch_size,
    probe_memory,
)
from latentops.models.codec import decode_all, decode_batches, encode_batches, fast_layout
from latentops.models.device import pick_device
from latentops.models.identity import IdentityConfig, IdentityModel
from latentops.models.recipes import RECIPES, Recipe, get_recipe
from latentops.models.registry import build_model, list_models, load_model_state, model_config_dict
from latentops.models.train import TrainConfig, TrainResult, train_autoencoder
from latentops.models.vae import VAE, VAEConfig
from latentops.models.vqvae import VQVAE, VQVAEConfig

__all__ = [
    "AE",
    "AEConfig",
    "Autoencoder",
    "EncodeOutput",
    "IdentityConfig",
    "IdentityModel",
    "LossOutput",
    "MemoryEstimate",
    "RECIPES",
    "Recipe",
    "TrainConfig",
    "TrainResult",
    "VAE",
    "VAEConfig",
    "VQVAE",
    "VQVAEConfig",
    "available_host_bytes",
    "batch_for_budget",
    "build_model",
    "decode_all",
    "decode_batches",
    "encode_batches",
    "fast_layout",
    "fit_batch_size",
    "get_recipe",
    "list_models",
    "load_model_state",
    "model_config_dict",
    "parse_batch_size",
    "pick_device",
    "probe_memory",
    "train_autoencoder",
]
