"""Book 3.6 (softmax regression from scratch), PyTorch."""
import os

import torch

from softreg import torch as d2l

QUICK = os.environ.get("SOFTREG_BOOK_QUICK") == "1"  # the tests' short run
batch_size = 256
train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
num_inputs, num_outputs = 784, 10
W = torch.normal(0, 0.01, size=(num_inputs, num_outputs), requires_grad=True)
b = torch.zeros(num_outputs, requires_grad=True)
X = d2l.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
print(d2l.reduce_sum(X, 0, keepdim=True), d2l.reduce_sum(X, 1, keepdim=True))


def softmax(X):
    X_exp = d2l.exp(X)
    partition = d2l.reduce_sum(X_exp, 1, keepdims=True)
    return X_exp / partition


X = d2l.normal(0, 1, (2, 5))
X_prob = softmax(X)
print(X_prob, d2l.reduce_sum(X_prob, 1))


def net(X):
    return softmax(d2l.matmul(d2l.reshape(X, (-1, W.shape[0])), W) + b)


y = d2l.tensor([0, 2])
y_hat = d2l.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
print(y_hat[[0, 1], y])


def cross_entropy(y_hat, y):
    return -d2l.log(y_hat[range(len(y_hat)), y])


print(cross_entropy(y_hat, y))


def accuracy(y_hat, y):
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = d2l.argmax(y_hat, axis=1)
    cmp = d2l.astype(y_hat, y.dtype) == y
    return float(d2l.reduce_sum(d2l.astype(cmp, y.dtype)))


print(accuracy(y_hat, y) / len(y), d2l.accuracy(y_hat, y) / len(y))
print(d2l.evaluate_accuracy(net, test_iter))  # about 0.1 before training
lr = 0.1


def updater(batch_size):
    return d2l.sgd([W, b], lr, batch_size)


num_epochs = 1 if QUICK else 10
history = d2l.train_ch3(net, train_iter, test_iter, cross_entropy, num_epochs, updater)
d2l.predict_ch3(net, test_iter)
last = history.last
print('book:', {'epochs': num_epochs, 'train_loss': last.train_loss,
                'train_acc': last.train_acc, 'test_acc': last.test_acc})
