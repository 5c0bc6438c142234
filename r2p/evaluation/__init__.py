"""Evaluation of a candidate against the champion and a baseline (DESIGN §1, §5)."""
