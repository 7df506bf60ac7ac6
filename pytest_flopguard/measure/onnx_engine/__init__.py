"""The ONNX engine: counts an ONNX model from its graph alone, with the torch engine's conventions."""
