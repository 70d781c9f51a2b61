"""Book 4.2 (MLP from scratch), MXNet."""
import os

from mxnet import gluon, np, npx

from softreg import mxnet as d2l

npx.set_np()
QUICK = os.environ.get("SOFTREG_BOOK_QUICK") == "1"
batch_size = 256
train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
num_inputs, num_outputs, num_hiddens = 784, 10, 256
W1 = np.random.normal(scale=0.01, size=(num_inputs, num_hiddens))
b1 = np.zeros(num_hiddens)
W2 = np.random.normal(scale=0.01, size=(num_hiddens, num_outputs))
b2 = np.zeros(num_outputs)
params = [W1, b1, W2, b2]
for param in params:
    param.attach_grad()


def relu(X):
    return np.maximum(X, 0)


def net(X):
    X = d2l.reshape(X, (-1, num_inputs))
    H = relu(np.dot(X, W1) + b1)
    return np.dot(H, W2) + b2


loss = gluon.loss.SoftmaxCrossEntropyLoss()
num_epochs, lr = (3 if QUICK else 10), 0.1
history = d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs,
                        lambda batch_size: d2l.sgd(params, lr, batch_size))
d2l.predict_ch3(net, test_iter)
last = history.last
print('book:', {'epochs': num_epochs, 'train_loss': last.train_loss,
                'train_acc': last.train_acc, 'test_acc': last.test_acc})
