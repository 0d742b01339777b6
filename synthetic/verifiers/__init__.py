"""Verifiers that decide RL rewards: math answers, code in a sandbox, instruction following."""
