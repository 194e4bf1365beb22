"""latentops.evaluation."""
