"""The embedded local stack: emulators, the local batch-prediction service and model backends."""
