"""Book 4.3 (concise MLP), PyTorch."""
import os

import torch
from torch import nn

from softreg import torch as d2l

QUICK = os.environ.get("SOFTREG_BOOK_QUICK") == "1"
net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


def init_weights(m):
    if type(m) == nn.Linear:
        nn.init.normal_(m.weight, std=0.01)


net.apply(init_weights)
batch_size, lr, num_epochs = 256, 0.1, (3 if QUICK else 10)
loss = nn.CrossEntropyLoss(reduction='none')
trainer = torch.optim.SGD(net.parameters(), lr=lr)
train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
history = d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs, trainer)
last = history.last
print('book:', {'epochs': num_epochs, 'train_loss': last.train_loss,
                'train_acc': last.train_acc, 'test_acc': last.test_acc})
