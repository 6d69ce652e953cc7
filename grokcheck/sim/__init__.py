"""The toy model of Section 3 / Appendix C (Figure 2) and its cross-check against Theorem D.4.

``model`` (equations, Table 1 presets), ``dynamics`` (gradient descent, convergence),
``crosscheck`` (Theorem D.4), ``run`` (the ``grokcheck sim`` library call), ``figures``,
``checks`` (rows of ``grokcheck verify``). numpy only; matplotlib inside ``figures``' functions.
"""
