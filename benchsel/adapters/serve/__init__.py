"""Serving variants of a trained model: test-time augmentation and ONNX Runtime."""
