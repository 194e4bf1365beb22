"""latentops.directions."""
