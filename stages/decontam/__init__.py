"""Decontamination: an n-gram index of benchmark sets and the stage that drops leaked documents."""
