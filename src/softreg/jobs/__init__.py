"""The jobs behind the commands: a training run (``softreg train``), a spread across seeds, the
learning-rate range test and the overfitting study.
"""
