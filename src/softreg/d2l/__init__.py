"""Framework-neutral parts of the d2l-compatible facades (``softreg.torch`` and friends).

``common``: Accumulator, Timer, labels, figure-size helpers. ``animator``: live curves in
Jupyter, PNG files elsewhere. ``ch3``: the glue that runs ``train_ch3`` through softreg's one
epoch loop. ``images``: image grids and prediction grids from NumPy arrays. ``plotting``:
``d2l.plot``, ``set_axes`` and ``d2l.plt``. ``datahub``: ``DATA_HUB`` and ``download``
(section 4.10). ``torch_book``, ``tensorflow_book``, ``mxnet_book``: per framework, the tensor
aliases and helpers of the book's chapters 3 and 4 (``d2l.tensor``, ``synthetic_data``,
``load_array``...). ``weakcache``: the compiled-function cache that reuses a trace per (net,
loss, updater, iterator) without keeping them alive.
"""

#: The d2l API every facade defines, one name each (kept in :mod:`softreg.d2l.names`).
from softreg.d2l.names import __all__ as D2L_NAMES  # noqa: F401 (re-exported)
