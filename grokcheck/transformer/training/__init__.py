"""Training phases (Appendix A): full-batch AdamW to a stop rule, single or batched.

Modules: ``phase`` (the one phase driver: config, split, start state, stop rule, folder ->
phase result), ``loop`` (the evaluation schedule, stop rules, checkpoints), ``single`` and
``ensemble`` (the arithmetic of one model and of K stacked members), ``ensemble_config`` and
``batch`` (a batched ensemble's members and its driver), ``optim`` (AdamW), ``convergence``
(stop rules), ``metrics`` (evaluation rows and milestones), ``checkpoint`` and ``run_folder``
(what is saved and checked on resume), and the three phases users run: ``train`` (grokking),
``pretrain`` (the cached full-dataset network) and ``ungrok`` (Section 5.2).
"""
