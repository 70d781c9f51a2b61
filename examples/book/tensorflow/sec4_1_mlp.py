"""Book 4.1 (multilayer perceptrons), TensorFlow: activation functions and their gradients."""
import tensorflow as tf

from softreg import tensorflow as d2l

x = tf.Variable(tf.range(-8.0, 8.0, 0.1), dtype=tf.float32)
y = tf.nn.relu(x)
d2l.plot(x.numpy(), y.numpy(), 'x', 'relu(x)', figsize=(5, 2.5))
with tf.GradientTape() as t:
    y = tf.nn.relu(x)
d2l.plot(x.numpy(), t.gradient(y, x).numpy(), 'x', 'grad of relu', figsize=(5, 2.5))
y = tf.nn.sigmoid(x)
d2l.plot(x.numpy(), y.numpy(), 'x', 'sigmoid(x)', figsize=(5, 2.5))
with tf.GradientTape() as t:
    y = tf.nn.sigmoid(x)
sigmoid_grad = t.gradient(y, x).numpy()
d2l.plot(x.numpy(), sigmoid_grad, 'x', 'grad of sigmoid', figsize=(5, 2.5))
y = tf.nn.tanh(x)
d2l.plot(x.numpy(), y.numpy(), 'x', 'tanh(x)', figsize=(5, 2.5))
with tf.GradientTape() as t:
    y = tf.nn.tanh(x)
tanh_grad = t.gradient(y, x).numpy()
d2l.plot(x.numpy(), tanh_grad, 'x', 'grad of tanh', figsize=(5, 2.5))
print('book:', {'sigmoid_grad_at_0': float(sigmoid_grad[80]),
                'tanh_grad_at_0': float(tanh_grad[80])})
