"""Every user-facing failure in latentops is a LatentOpsError.

Subclasses also inherit a builtin so callers' generic ``except ValueError`` keeps working.
Messages name the bad value, what was expected, and the fix.
"""

from __future__ import annotations


class LatentOpsError(Exception):
    """Base class of all latentops errors; the CLI maps it to exit code 1."""


class InvalidInputError(LatentOpsError, ValueError):
    """Input has the wrong shape, dtype, values (NaN/inf, zero norm) or combination."""


class NotFoundError(LatentOpsError, LookupError):
    """A named artifact (dataset, model@version, table, direction, column) does not exist."""


class VersionConflictError(LatentOpsError, RuntimeError):
    """A concurrent writer won a commit race too many times in a row."""


class CorruptArtifactError(LatentOpsError, ValueError):
    """A file in the store or given by the user cannot be read as what it claims to be."""


class OrchestrationError(LatentOpsError, ConnectionError):
    """No Prefect API could be reached or started to run a flow."""


class UnsupportedOperationError(LatentOpsError, NotImplementedError):
    """The operation is not defined for this object (e.g. decoding with the identity model)."""


class NotFittedError(LatentOpsError, AttributeError):
    """A fitter's learned state was used before ``fit`` was called."""


class CorruptTableWarning(UserWarning):
    """A table of the store cannot be read and was left out (of SQL views, listings)."""


__all__ = [
    "CorruptArtifactError",
    "CorruptTableWarning",
    "InvalidInputError",
    "LatentOpsError",
    "NotFittedError",
    "NotFoundError",
    "OrchestrationError",
    "UnsupportedOperationError",
    "VersionConflictError",
]
