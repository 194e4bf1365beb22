"""latentops.storage."""
