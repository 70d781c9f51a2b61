"""Book 3.5 (the image classification dataset), MXNet: Gluon's own FashionMNIST.

Gluon checks its files against SHA-1s of its own copies, made from the 2017-08-26 release of
Fashion-MNIST (before upstream removed duplicate images on 2017-08-31): no copy of today's
files can pass, so offline this needs Gluon's copies in ~/.mxnet/datasets/fashion-mnist.
"""
import sys

from mxnet import gluon

from softreg import mxnet as d2l

d2l.use_svg_display()
mnist_train = gluon.data.vision.FashionMNIST(train=True)
mnist_test = gluon.data.vision.FashionMNIST(train=False)
print(len(mnist_train), len(mnist_test))
print(mnist_train[0][0].shape)


def show_images(imgs, num_rows, num_cols, titles=None, scale=1.5):
    figsize = (num_cols * scale, num_rows * scale)
    _, axes = d2l.plt.subplots(num_rows, num_cols, figsize=figsize)
    axes = axes.flatten()
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        ax.imshow(d2l.numpy(img))
        ax.axes.get_xaxis().set_visible(False)
        ax.axes.get_yaxis().set_visible(False)
        if titles:
            ax.set_title(titles[i])
    return axes


X, y = mnist_train[:18]
print(X.shape)
show_images(X.squeeze(axis=-1), 2, 9, titles=d2l.get_fashion_mnist_labels(y))
batch_size = 256
transformer = gluon.data.vision.transforms.ToTensor()
train_iter = gluon.data.DataLoader(mnist_train.transform_first(transformer), batch_size,
                                   shuffle=True, num_workers=d2l.get_dataloader_workers())
timer = d2l.Timer()
for X, y in train_iter:
    continue
print(f'{timer.stop():.2f} sec')
print('book:', {'train': len(mnist_train), 'test': len(mnist_test)}, file=sys.stdout)
