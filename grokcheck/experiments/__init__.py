"""Predictions P1-P4 of Section 5 as sweeps with verdicts against the theory (planned).

Not built yet: no open issue asks for it. The batched ensemble trainer
(:mod:`grokcheck.transformer.ensemble`) is the engine these sweeps will run on.
"""
