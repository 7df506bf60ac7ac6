raise ImportError("a dependency of the model is not installed")
