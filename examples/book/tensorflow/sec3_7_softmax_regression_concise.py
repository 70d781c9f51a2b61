"""Book 3.7 (concise softmax regression), TensorFlow."""
import os

import tensorflow as tf

from softreg import tensorflow as d2l

QUICK = os.environ.get("SOFTREG_BOOK_QUICK") == "1"
batch_size = 256
train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
net = tf.keras.models.Sequential()
net.add(tf.keras.layers.Flatten(input_shape=(28, 28)))
weight_initializer = tf.keras.initializers.RandomNormal(mean=0.0, stddev=0.01)
net.add(tf.keras.layers.Dense(10, kernel_initializer=weight_initializer))
loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
trainer = tf.keras.optimizers.SGD(learning_rate=.1)
num_epochs = 1 if QUICK else 10
history = d2l.train_ch3(net, train_iter, test_iter, loss, num_epochs, trainer)
last = history.last
print('book:', {'epochs': num_epochs, 'train_loss': last.train_loss,
                'train_acc': last.train_acc, 'test_acc': last.test_acc})
