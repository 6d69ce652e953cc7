"""The Appendix A transformer on Power et al. (2021) tasks: data, model, training, analysis.

The subpackages are layered; each imports only from the ones listed before it:

- ``model``: the tasks and their splits, the reference 1-layer transformer, its exact table
  engine, and where it runs (device, threads, dtypes).
- ``analysis``: what is measured on a network: Appendix B's circuits, Nanda et al.'s progress
  measures, kappa, circuit dominance, the float32-loss diagnostics, and the figures of runs.
- ``training``: one phase driver (``phase``) and its loop for single runs and batched
  ensembles; AdamW, stop rules, checkpoints and run folders; grokking (``train``),
  pretraining and ungrokking as compositions of the phase driver.

At this level: ``checks`` (the transformer rows of ``grokcheck verify``), ``figure1_checks``
(Figure 1's shapes as pure functions of evaluation rows) and ``circuit_runs`` (the circuit
measurements of a saved run folder). Importing a package here imports nothing heavy; the
modules import torch.
"""
