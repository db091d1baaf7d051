"""carbonsim simulator: scenario, workload, SimPy model, accounting, Monte Carlo."""
