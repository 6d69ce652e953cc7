"""The network and its data (Appendix A).

Modules: ``tasks`` (Power et al.'s datasets and train/test splits), ``model`` (the reference
1-layer decoder-only transformer), ``engine`` and ``tables`` (an exact, faster forward and
backward built on per-step tables), ``runtime`` (device, CPU threads, dtypes).
"""
