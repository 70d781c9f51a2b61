"""Book 3.7 (concise softmax regression), PyTorch."""
import os

import torch
from torch import nn

from softreg import torch as d2l

QUICK = os.environ.get("SOFTREG_BOOK_QUICK") == "1"
batch_size = 256
train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def init_weights(m):
    if type(m) == nn.Linear:
        nn.init.normal_(m.weight, std=0.01)


net.apply(init_weights)
loss = nn.CrossEntropyLoss(reduction='none')
trainer = torch.optim.SGD(net.parameters(), lr=0.1)
num_epochs = 1 if QUICK else 10
history = d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs, trainer)
last = history.last
print('book:', {'epochs': num_epochs, 'train_loss': last.train_loss,
                'train_acc': last.train_acc, 'test_acc': last.test_acc})
