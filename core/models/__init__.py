"""Models: the Embedder and load_embedder (embedder), the model's backends, ONNX Runtime towers and their int8
self-check (onnx_runtime, calibration), where model files come from (model_source), torchvision's import fix."""
