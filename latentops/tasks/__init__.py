"""latentops.tasks."""
