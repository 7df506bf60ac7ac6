"""Workers: a budget entry's code run safely, in child processes (the pool, the latency pair) with faults and import guards."""
