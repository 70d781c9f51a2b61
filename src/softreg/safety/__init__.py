"""Files and processes kept safe: the one write gate, the one bounded reader, count and memory
bounds, atomic writes, run-folder claims, signals and worker lifelines.

Every command writes through :mod:`softreg.safety.writegate` and reads files back through
:mod:`softreg.safety.readback`; nothing here knows about models or data.
"""
