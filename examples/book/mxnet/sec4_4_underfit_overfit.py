"""Book 4.4 (model selection, underfitting, overfitting), MXNet: polynomial regression."""
import math
import os

from mxnet import gluon, np, npx
from mxnet.gluon import nn

from softreg import mxnet as d2l

npx.set_np()
QUICK = os.environ.get("SOFTREG_BOOK_QUICK") == "1"
max_degree = 20
n_train, n_test = 100, 100
true_w = np.zeros(max_degree)
true_w[0:4] = np.array([5, 1.2, -3.4, 5.6])
features = np.random.normal(size=(n_train + n_test, 1))
np.random.shuffle(features)
poly_features = np.power(features, np.arange(max_degree).reshape(1, -1))
for i in range(max_degree):
    poly_features[:, i] /= math.gamma(i + 1)
labels = np.dot(poly_features, true_w)
labels += np.random.normal(scale=0.1, size=labels.shape)
print(features[:2], poly_features[:2, :], labels[:2])


def evaluate_loss(net, data_iter, loss):
    metric = d2l.Accumulator(2)
    for X, y in data_iter:
        l = loss(net(X), y)
        metric.add(d2l.reduce_sum(l), d2l.size(l))
    return metric[0] / metric[1]


def train(train_features, test_features, train_labels, test_labels, num_epochs=400):
    if QUICK:
        num_epochs = 20
    loss = gluon.loss.L2Loss()
    net = nn.Sequential()
    net.add(nn.Dense(1, use_bias=False))
    net.initialize()
    batch_size = min(10, train_labels.shape[0])
    train_iter = d2l.load_array((train_features, train_labels), batch_size)
    test_iter = d2l.load_array((test_features, test_labels), batch_size, is_train=False)
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.01})
    animator = d2l.Animator(xlabel='epoch', ylabel='loss', yscale='log', xlim=[1, num_epochs],
                            ylim=[1e-3, 1e2], legend=['train', 'test'])
    for epoch in range(num_epochs):
        d2l.train_epoch_ch3(net, train_iter, loss, trainer)
        if epoch == 0 or (epoch + 1) % 20 == 0:
            losses = (evaluate_loss(net, train_iter, loss), evaluate_loss(net, test_iter, loss))
            animator.add(epoch + 1, losses)
    print('weight:', net[0].weight.data().asnumpy())
    return losses, net[0].weight.data().asnumpy().ravel().tolist()


normal = train(poly_features[:n_train, :4], poly_features[n_train:, :4],
               labels[:n_train], labels[n_train:])
underfit = train(poly_features[:n_train, :2], poly_features[n_train:, :2],
                 labels[:n_train], labels[n_train:])
overfit = train(poly_features[:n_train, :], poly_features[n_train:, :],
                labels[:n_train], labels[n_train:], num_epochs=1500)
print('book:', {'normal': normal, 'underfit': underfit, 'overfit': overfit[0]})
