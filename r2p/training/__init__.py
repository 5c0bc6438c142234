"""Model spec -> PyTorch prototype and TensorFlow graph-mode retrain, tracked in MLflow."""
