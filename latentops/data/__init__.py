"""latentops.data."""
