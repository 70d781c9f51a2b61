"""Figures (matplotlib, imported only when a figure is drawn).

``images`` draws image grids (samples, predictions), ``curves`` the training curves,
``confusion`` the confusion matrix. All of them work outside Jupyter: they write PNG files.
"""
