"""scikit-learn estimators: ``SoftmaxRegression`` and ``SoftmaxRegressionCV``.

Importing this package imports scikit-learn and scipy (``pip install 'softreg[sklearn]'``);
``import softreg`` does not, and names these classes lazily.
"""

from softreg.estimator.classifier import SoftmaxRegression
from softreg.estimator.cv import SoftmaxRegressionCV
from softreg.estimator.data import load_split

__all__ = ["SoftmaxRegression", "SoftmaxRegressionCV", "load_split"]
