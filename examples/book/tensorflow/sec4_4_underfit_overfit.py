"""Book 4.4 (model selection, underfitting, overfitting), TensorFlow: polynomial regression."""
import math
import os

import numpy as np
import tensorflow as tf

from softreg import tensorflow as d2l

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
true_w, features, poly_features, labels = [
    tf.constant(x, dtype=d2l.float32) for x in [true_w, features, poly_features, labels]]
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
    loss = tf.losses.MeanSquaredError()
    net = tf.keras.Sequential()
    net.add(tf.keras.layers.Dense(1, use_bias=False))
    batch_size = min(10, train_labels.shape[0])
    train_iter = d2l.load_array((train_features, train_labels), batch_size)
    test_iter = d2l.load_array((test_features, test_labels), batch_size, is_train=False)
    trainer = tf.keras.optimizers.SGD(learning_rate=.01)
    animator = d2l.Animator(xlabel='epoch', ylabel='loss', yscale='log', xlim=[1, num_epochs],
                            ylim=[1e-3, 1e2], legend=['train', 'test'])
    for epoch in range(num_epochs):
        d2l.train_epoch_ch3(net, train_iter, loss, trainer)
        if epoch == 0 or (epoch + 1) % 20 == 0:
            losses = (evaluate_loss(net, train_iter, loss), evaluate_loss(net, test_iter, loss))
            animator.add(epoch + 1, losses)
    print('weight:', net.get_weights()[0].T)
    return losses, net.get_weights()[0].ravel().tolist()


normal = train(poly_features[:n_train, :4], poly_features[n_train:, :4],
               labels[:n_train], labels[n_train:])
underfit = train(poly_features[:n_train, :2], poly_features[n_train:, :2],
                 labels[:n_train], labels[n_train:])
overfit = train(poly_features[:n_train, :], poly_features[n_train:, :],
                labels[:n_train], labels[n_train:], num_epochs=1500)
print('book:', {'normal': normal, 'underfit': underfit, 'overfit': overfit[0]})
