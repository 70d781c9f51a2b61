"""Framework-neutral parts of the d2l-compatible facades (``softreg.torch`` and friends).

``common``: Accumulator, Timer, labels, figure-size helpers. ``animator``: live curves in
Jupyter, PNG files elsewhere. ``ch3``: the glue that runs ``train_ch3`` through softreg's one
epoch loop. ``images``: image grids and prediction grids from NumPy arrays. ``weakcache``: the
compiled-function cache that reuses a trace per (net, loss, updater, iterator) without keeping
them alive.
"""

#: The d2l API every facade defines, one name each (``softreg.torch``, ``softreg.tensorflow``,
#: ``softreg.mxnet`` export exactly these; tests/test_d2l_facades.py checks each defines them).
D2L_NAMES: tuple[str, ...] = (
    "Accumulator",
    "Animator",
    "FashionMNISTBatches",
    "Timer",
    "TrainCh3Warning",
    "accuracy",
    "evaluate_accuracy",
    "get_dataloader_workers",
    "get_fashion_mnist_labels",
    "load_data_fashion_mnist",
    "predict_ch3",
    "predict_labels",
    "set_figsize",
    "sgd",
    "show_images",
    "train_ch3",
    "train_epoch_ch3",
    "use_svg_display",
)
