"""One gate run, the same for both doors: the gate, latency pairing, reuse of unchanged figures, shards, checkpoints."""
