"""The epoch loop every training runs through, the totals a backend returns to it, its records
(``history.json``, ``metrics.csv``) and its progress lines.

Below the framework rooms (:mod:`softreg.backends`), which return
:class:`~softreg.epochs.loop.EpochTotals`, and below :mod:`softreg.fitting`, which puts a run
together and drives the loop.
"""
