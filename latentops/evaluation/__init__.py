"""latentops.evaluation: disentanglement metrics, edit scorecards and judge models (pure, no IO).

Metrics take plain arrays (latents (N, d), integer factors (N, K)) and return one flat dict
per call whose float values are scores and whose str/int/bool values are the protocol they
were computed with (``split_scores`` separates the two).
"""

from latentops.evaluation._beta_vae import beta_vae_score
from latentops.evaluation._dci import dci
from latentops.evaluation._discretize import histogram_discretize
from latentops.evaluation._factor_vae import factor_vae_score
from latentops.evaluation._mig import mig
from latentops.evaluation._protocol import split_scores
from latentops.evaluation._sap import sap
from latentops.evaluation.predictors import (
    UNLEARNABLE,
    AttributePredictor,
    PredictorConfig,
    evaluate_predictor,
    judge_factors,
    train_predictor,
)
from latentops.evaluation.scorecard import (
    calibrate_strength,
    dose_response,
    frechet_distance,
    frechet_distance_from_stats,
    locality,
    off_target_matrix,
    path_length,
    prior_plausibility,
    weak_semantics,
)

__all__ = [
    "UNLEARNABLE",
    "AttributePredictor",
    "PredictorConfig",
    "beta_vae_score",
    "calibrate_strength",
    "dci",
    "dose_response",
    "evaluate_predictor",
    "judge_factors",
    "factor_vae_score",
    "frechet_distance",
    "frechet_distance_from_stats",
    "histogram_discretize",
    "locality",
    "mig",
    "off_target_matrix",
    "path_length",
    "prior_plausibility",
    "sap",
    "split_scores",
    "train_predictor",
    "weak_semantics",
]
