"""latentops.directions: fit, combine and compare attribute directions (pure, no IO).

``fit_direction(z, y, method=...)`` returns a :class:`Direction` (unit vector + method, params
and held-out metrics); ``fit_directions`` returns several ranked ones (pca, sefa).
"""

from latentops.directions._probe import NONLINEAR_FLAG, probe_flags, probe_scores
from latentops.directions.conditional import cosine_matrix, entanglement, orthogonalize
from latentops.directions.direction import Direction
from latentops.directions.fit import fit_direction, fit_directions
from latentops.directions.labels import parse_label
from latentops.directions.manual import manual_direction
from latentops.directions.methods import METHODS, MethodInfo, applicable_methods
from latentops.directions.sefa import sefa_directions

__all__ = [
    "METHODS",
    "NONLINEAR_FLAG",
    "Direction",
    "MethodInfo",
    "applicable_methods",
    "cosine_matrix",
    "entanglement",
    "fit_direction",
    "fit_directions",
    "manual_direction",
    "orthogonalize",
    "parse_label",
    "probe_flags",
    "probe_scores",
    "sefa_directions",
]
