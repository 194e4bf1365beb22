"""Latent models behind one open protocol (``protocol``): built-in autoencoders and yours."""

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
from latentops.models.check import CheckReport, CheckResult, check_model, probe_batch
from latentops.models.codec import decode_all, decode_batches, encode_batches, fast_layout
from latentops.models.device import pick_device
from latentops.models.external import (
    ENTRY_POINT_GROUP,
    ExternalModel,
    build_external,
    entry_point,
    from_programs,
    list_entry_points,
)
from latentops.models.identity import IdentityConfig, IdentityModel
from latentops.models.minilm import MiniLM, MiniLMConfig
from latentops.models.protocol import (
    Capabilities,
    LatentModel,
    ModelSpec,
    check_input_shape,
    require,
)
from latentops.models.recipes import RECIPES, Recipe, get_recipe
from latentops.models.registry import build_model, list_models, load_model_state, model_config_dict
from latentops.models.text_decoder import (
    DecodedTexts,
    RetrievalDecoder,
    TextDecoder,
    decode_with_fidelity,
    embed_unique,
)
from latentops.models.train import TrainConfig, TrainResult, train_autoencoder
from latentops.models.vae import VAE, VAEConfig
from latentops.models.vqvae import VQVAE, VQVAEConfig

__all__ = [
    "AE",
    "AEConfig",
    "Autoencoder",
    "Capabilities",
    "CheckReport",
    "CheckResult",
    "DecodedTexts",
    "ENTRY_POINT_GROUP",
    "ExternalModel",
    "LatentModel",
    "ModelSpec",
    "EncodeOutput",
    "IdentityConfig",
    "IdentityModel",
    "LossOutput",
    "MiniLM",
    "MiniLMConfig",
    "MemoryEstimate",
    "RECIPES",
    "Recipe",
    "RetrievalDecoder",
    "TextDecoder",
    "TrainConfig",
    "TrainResult",
    "VAE",
    "VAEConfig",
    "VQVAE",
    "VQVAEConfig",
    "available_host_bytes",
    "batch_for_budget",
    "build_external",
    "build_model",
    "check_input_shape",
    "check_model",
    "decode_all",
    "decode_batches",
    "decode_with_fidelity",
    "embed_unique",
    "encode_batches",
    "entry_point",
    "fast_layout",
    "fit_batch_size",
    "get_recipe",
    "from_programs",
    "list_entry_points",
    "list_models",
    "load_model_state",
    "model_config_dict",
    "parse_batch_size",
    "pick_device",
    "probe_batch",
    "probe_memory",
    "require",
    "train_autoencoder",
]
