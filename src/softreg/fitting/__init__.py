"""Training one model or a pack of models on any backend: features and splits, the epoch loop,
its history, early stopping, packs and :func:`~softreg.fitting.pack_plan.fit_many`.
"""
