"""Book 3.7 (concise softmax regression), MXNet."""
import os

from mxnet import gluon, init, npx
from mxnet.gluon import nn

from softreg import mxnet as d2l

npx.set_np()
QUICK = os.environ.get("SOFTREG_BOOK_QUICK") == "1"
batch_size = 256
train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
net = nn.Sequential()
net.add(nn.Dense(10))
net.initialize(init.Normal(sigma=0.01))
loss = gluon.loss.SoftmaxCrossEntropyLoss()
trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1})
num_epochs = 1 if QUICK else 10
history = d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs, trainer)
last = history.last
print('book:', {'epochs': num_epochs, 'train_loss': last.train_loss,
                'train_acc': last.train_acc, 'test_acc': last.test_acc})
