"""Book 3.6 (softmax regression from scratch), TensorFlow."""
import os

import tensorflow as tf

from softreg import tensorflow as d2l

QUICK = os.environ.get("SOFTREG_BOOK_QUICK") == "1"
batch_size = 256
train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
num_inputs, num_outputs = 784, 10
W = tf.Variable(tf.random.normal(shape=(num_inputs, num_outputs), mean=0, stddev=0.01))
b = tf.Variable(tf.zeros(num_outputs))
X = d2l.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
print(d2l.reduce_sum(X, 0, keepdims=True), d2l.reduce_sum(X, 1, keepdims=True))


def softmax(X):
    X_exp = d2l.exp(X)
    partition = d2l.reduce_sum(X_exp, 1, keepdims=True)
    return X_exp / partition


X = tf.random.normal((2, 5), 0, 1)
X_prob = softmax(X)
print(X_prob, tf.reduce_sum(X_prob, 1))


def net(X):
    return softmax(d2l.matmul(d2l.reshape(X, (-1, W.shape[0])), W) + b)


y_hat = tf.constant([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
y = tf.constant([0, 2])


def cross_entropy(y_hat, y):
    return -tf.math.log(tf.boolean_mask(y_hat, tf.one_hot(y, depth=y_hat.shape[-1])))


print(cross_entropy(y_hat, y))


def accuracy(y_hat, y):
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = d2l.argmax(y_hat, axis=1)
    cmp = d2l.astype(y_hat, y.dtype) == y
    return float(d2l.reduce_sum(d2l.astype(cmp, y.dtype)))


print(accuracy(y_hat, y) / len(y), d2l.accuracy(y_hat, y) / len(y))
print(d2l.evaluate_accuracy(net, test_iter))
updater = d2l.Updater([W, b], lr=0.1)
num_epochs = 1 if QUICK else 10
history = d2l.train_ch3(net, train_iter, test_iter, cross_entropy, num_epochs, updater)
d2l.predict_ch3(net, test_iter)
last = history.last
print('book:', {'epochs': num_epochs, 'train_loss': last.train_loss,
                'train_acc': last.train_acc, 'test_acc': last.test_acc})
