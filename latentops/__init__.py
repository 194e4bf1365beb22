"""latentops: latent space manipulation as a scheduled, versioned, queryable pipeline."""

from latentops.errors import LatentOpsError

__version__ = "0.1.0"

__all__ = ["LatentOpsError", "__version__"]
