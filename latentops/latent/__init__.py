"""latentops.latent."""
