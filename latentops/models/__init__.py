"""latentops.models."""
