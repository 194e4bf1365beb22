"""latentops.latent: pure, batched tensor maths on latents (no IO, any device and dtype).

interpolate: lerp, slerp, interpolate. edit: apply_direction(s), traversals, arithmetic.
gradient_path: edits that follow a curved code up a smooth attribute model's gradient.
prior: N(0, I) samples by index, log density, typical shell, projection back to the prior,
    edit report.
vq: nearest-code quantization, token-map edits, codebook usage.
edit_kinds: the edit kinds the edit task runs (direction edit, interpolation, traversal, VQ swap).
"""

from latentops.latent.edit import (
    apply_direction,
    apply_directions,
    coordinate_traversal,
    direction_traversal,
    latent_arithmetic,
)
from latentops.latent.edit_kinds import DirectionEdit, Interpolation, Traversal, VqSwap
from latentops.latent.gradient_path import gradient_path, kernel_attribute
from latentops.latent.interpolate import interpolate, lerp, slerp
from latentops.latent.prior import (
    PriorShift,
    log_prior,
    prior_samples,
    prior_shell_band,
    prior_shell_radius,
    prior_shift,
    project_to_prior,
    radius_for_log_prob,
)
from latentops.latent.vq import (
    codebook_usage,
    codes_to_latents,
    quantize,
    replace_codes,
    swap_code,
)

__all__ = [
    "DirectionEdit",
    "Interpolation",
    "PriorShift",
    "Traversal",
    "VqSwap",
    "apply_direction",
    "apply_directions",
    "codebook_usage",
    "codes_to_latents",
    "coordinate_traversal",
    "direction_traversal",
    "gradient_path",
    "interpolate",
    "kernel_attribute",
    "latent_arithmetic",
    "lerp",
    "log_prior",
    "prior_shell_band",
    "prior_samples",
    "prior_shell_radius",
    "prior_shift",
    "project_to_prior",
    "quantize",
    "radius_for_log_prob",
    "replace_codes",
    "slerp",
    "swap_code",
]
