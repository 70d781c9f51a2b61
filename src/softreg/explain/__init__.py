"""Explaining a trained softmax regression: what it looks for, where it errs, how sure it is.

Modules: ``templates`` (rows of W as images), ``mistakes`` (confused pairs, highest-loss
images), ``calibration`` (ECE, NLL, temperature scaling), ``analysis`` (all of it for one model
and test set), ``report`` (Markdown and terminal text), ``runner`` (``softreg explain`` and the
report's sections). NumPy only; matplotlib is imported when a figure is drawn.
"""
