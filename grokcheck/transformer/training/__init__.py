"""Training phases (Appendix A): full-batch AdamW to a stop rule, single or batched.

Modules: ``phase`` (the one phase driver: a phase's config, optimiser, schedule and stop rule,
its train set, its start and its files -> its ``PhaseResult``), ``loop`` (the evaluation
schedule, stop rules, checkpoints), ``single`` and ``ensemble`` (the arithmetic of one model and
of K stacked members), ``ensemble_config`` and ``batch`` (a batched ensemble's members and its
driver), ``optim`` (AdamW), ``convergence`` (stop rules), ``metrics`` (evaluation rows,
milestones, the reasons a run stops), ``checkpoint`` and ``run_folder`` (what is saved and
checked on resume), and the three phases users run: ``train`` (grokking), ``pretrain`` (the
cached full-dataset network) and ``ungrok`` (Section 5.2); ``plan`` turns
``grokcheck train``'s options into one of them.
"""
