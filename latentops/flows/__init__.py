"""latentops.flows."""
