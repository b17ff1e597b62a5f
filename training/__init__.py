"""Training: a conditioned decoder-only transformer fit with Ray Train on the lake, tracked and registered in MLflow."""
