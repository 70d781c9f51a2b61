"""Book 4.2 (MLP from scratch), TensorFlow."""
import os

import tensorflow as tf

from softreg import tensorflow as d2l

QUICK = os.environ.get("SOFTREG_BOOK_QUICK") == "1"
batch_size = 256
train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
num_inputs, num_outputs, num_hiddens = 784, 10, 256
W1 = tf.Variable(tf.random.normal(shape=(num_inputs, num_hiddens), mean=0, stddev=0.01))
b1 = tf.Variable(tf.zeros(num_hiddens))
W2 = tf.Variable(tf.random.normal(shape=(num_hiddens, num_outputs), mean=0, stddev=0.01))
b2 = tf.Variable(tf.zeros(num_outputs))
params = [W1, b1, W2, b2]


def relu(X):
    return tf.math.maximum(X, 0)


def net(X):
    X = d2l.reshape(X, (-1, num_inputs))
    H = relu(tf.matmul(X, W1) + b1)
    return tf.matmul(H, W2) + b2


def loss(y_hat, y):
    return tf.losses.sparse_categorical_crossentropy(y, y_hat, from_logits=True)


num_epochs, lr = (3 if QUICK else 10), 0.1
updater = d2l.Updater([W1, W2, b1, b2], lr)
history = d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs, updater)
d2l.predict_ch3(net, test_iter)
last = history.last
print('book:', {'epochs': num_epochs, 'train_loss': last.train_loss,
                'train_acc': last.train_acc, 'test_acc': last.test_acc})
