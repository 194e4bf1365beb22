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
from latentops.evaluation.disentanglement import METRICS, check_metrics, disentanglement
from latentops.evaluation.edit_metrics import (
    calibrate_strength,
    dose_response,
    frechet_distance,
    frechet_distance_from_stats,
    item_spearman,
    locality,
    off_target_matrix,
    path_length,
    prior_plausibility,
    weak_semantics,
)
from latentops.evaluation.edit_scorecard import (
    Judged,
    Part,
    Scorecard,
    check_judge,
    finish_scorecard,
    merge_parts,
    resolve_target,
)
from latentops.evaluation.predictors import (
    UNLEARNABLE,
    AttributePredictor,
    JudgeTraining,
    PredictorConfig,
    accuracy_by,
    evaluate_predictor,
    fit_judge,
    judge_factors,
    left_out_factors,
    train_predictor,
)
from latentops.evaluation.text_scorecard import (
    TEXT_JUDGE,
    Corpus,
    VaderJudge,
    text_scorecard,
    unit_rows,
)

__all__ = [
    "Corpus",
    "TEXT_JUDGE",
    "VaderJudge",
    "item_spearman",
    "text_scorecard",
    "unit_rows",
    "METRICS",
    "UNLEARNABLE",
    "AttributePredictor",
    "JudgeTraining",
    "Judged",
    "Part",
    "Scorecard",
    "PredictorConfig",
    "accuracy_by",
    "beta_vae_score",
    "calibrate_strength",
    "check_judge",
    "check_metrics",
    "dci",
    "disentanglement",
    "dose_response",
    "evaluate_predictor",
    "judge_factors",
    "left_out_factors",
    "factor_vae_score",
    "finish_scorecard",
    "fit_judge",
    "frechet_distance",
    "frechet_distance_from_stats",
    "histogram_discretize",
    "locality",
    "merge_parts",
    "mig",
    "off_target_matrix",
    "path_length",
    "prior_plausibility",
    "resolve_target",
    "sap",
    "split_scores",
    "train_predictor",
    "weak_semantics",
]
