"""Measurement layer: counting engines that turn a model into a `Measurement`."""
