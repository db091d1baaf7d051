"""carbonsim calibration: meters, model backends, corpora, fitting, live monitoring."""
