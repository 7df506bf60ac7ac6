"""Latency: timing a model on a device, the statistics of its samples, and the roofline estimate."""
