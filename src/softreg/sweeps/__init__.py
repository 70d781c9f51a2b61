"""Sweeps: configurations (grid and random search), units of work, how a sweep chooses, and
merging a resumed sweep's results. Where the units run is :mod:`softreg.sweeps.engines`.
"""
