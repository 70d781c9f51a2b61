"""Figures, written as PNG files (they work outside Jupyter).

A run's report figures are drawn with Pillow straight into pixels (``raster``: fonts, colour
maps, text; ``axes``: a line plot's axes): ``images`` the image grids (samples, predictions,
mistakes), ``curves`` the training curves, ``confusion`` the confusion matrix, and
``explain``'s weight templates. The other figures (sweeps, studies, packs, confused pairs,
reliability) and the Figure objects shown in notebooks are drawn with matplotlib, imported only
when one of them is drawn.
"""
