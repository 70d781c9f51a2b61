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

#: The d2l API every facade defines, one name each: every ``d2l.`` name the 0.17 book's
#: chapters 3 (3.1-3.7) and 4 (4.1-4.10) call, in any of the three frameworks
#: (``softreg.torch``, ``softreg.tensorflow``, ``softreg.mxnet`` export exactly these;
#: tests/test_d2l_facades.py checks each defines them).
D2L_NAMES: tuple[str, ...] = (
    "abs",
    "Accumulator",
    "accuracy",
    "Animator",
    "arange",
    "argmax",
    "astype",
    "concat",
    "cos",
    "cosh",
    "DATA_HUB",
    "DATA_URL",
    "download",
    "download_all",
    "evaluate_accuracy",
    "evaluate_loss",
    "exp",
    "eye",
    "FashionMNISTBatches",
    "float32",
    "get_dataloader_workers",
    "get_fashion_mnist_labels",
    "int32",
    "linreg",
    "linspace",
    "load_array",
    "load_data_fashion_mnist",
    "log",
    "matmul",
    "meshgrid",
    "normal",
    "numpy",
    "ones",
    "plot",
    "plt",
    "predict_ch3",
    "predict_labels",
    "rand",
    "reduce_mean",
    "reduce_sum",
    "reshape",
    "set_axes",
    "set_figsize",
    "sgd",
    "show_images",
    "sin",
    "sinh",
    "size",
    "squared_loss",
    "stack",
    "synthetic_data",
    "tanh",
    "tensor",
    "Timer",
    "train_ch3",
    "train_epoch_ch3",
    "TrainCh3Warning",
    "transpose",
    "Updater",
    "use_svg_display",
    "zeros",
)
