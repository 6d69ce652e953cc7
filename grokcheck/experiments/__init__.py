"""The paper's predictions P1-P4 (Section 5) tested by experiments: many runs, then verdicts.

One experiment goes grid -> store -> executor -> runner -> predictions -> figures
(:mod:`~grokcheck.experiments.run`): :mod:`~grokcheck.experiments.grid` lays out the runs
(:mod:`~grokcheck.experiments.spec`) at two scales, :mod:`~grokcheck.experiments.executors` run
chunks of them here or on a Dask cluster, :mod:`~grokcheck.experiments.runner` trains each chunk
as batched ensembles, and :mod:`~grokcheck.experiments.store` keeps one result file per run.
Verdicts on the predictions and the paper's figures are pure functions of the results table.
Also here: D_crit per seed by bisection (:mod:`~grokcheck.experiments.bisect`), hysteresis near
D_crit (:mod:`~grokcheck.experiments.hysteresis`), a check that the convergence rule means
converged (:mod:`~grokcheck.experiments.convcheck`), and the ``grokcheck verify`` rows
(:mod:`~grokcheck.experiments.checks`).
"""
