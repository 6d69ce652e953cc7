"""Appendix D of the paper, checked two ways: exactly (sympy) and numerically (numpy/scipy).

- :mod:`grokcheck.theory.d4`: Theorem D.4, optimal weight allocation across circuits (Eq. 6).
- :mod:`grokcheck.theory.d1`: Theorem D.1, scaling up a perfect classifier lowers cross-entropy.
- :mod:`grokcheck.theory.lemmas`: Lemmas D.2 and D.3.
- :mod:`grokcheck.theory.symbolic`: the sympy derivations the others use.
- :mod:`grokcheck.theory.checks`: the rows ``grokcheck verify`` shows.

No torch here. sympy and scipy are imported inside functions, so importing this package is cheap.
"""
