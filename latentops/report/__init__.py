"""latentops.report."""
