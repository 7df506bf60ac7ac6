"""The torch engine: counts a PyTorch model by running it under dispatch modes (meta, hybrid or real)."""
