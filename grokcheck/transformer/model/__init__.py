"""The network and its data (Appendix A).

Modules: ``tasks`` (Power et al.'s datasets and train/test splits), ``model`` (the reference
1-layer decoder-only transformer), ``engine``, ``tables`` and ``plans`` (an exact, faster
forward and backward built on per-step tables, for one model or K stacked ones), ``runtime``
(device, CPU threads, dtypes) and ``choices`` (the names of tasks, dtypes, engines and devices,
importable without torch).
"""
