"""Book 4.8 (numerical stability and initialization), TensorFlow."""
import tensorflow as tf

from softreg import tensorflow as d2l

x = tf.Variable(tf.range(start=-8.0, limit=8.0, delta=0.1))
with tf.GradientTape() as t:
    y = tf.nn.sigmoid(x)
grad = t.gradient(y, x).numpy()
d2l.plot(x.numpy(), [y.numpy(), grad], legend=['sigmoid', 'gradient'], figsize=(4.5, 2.5))
M = tf.random.normal((4, 4))
print('a single matrix \n', M)
for i in range(100):
    M = tf.matmul(M, tf.random.normal((4, 4)))
print('after multiplying 100 matrices\n', M.numpy())
print('book:', {'max_abs_after_100': float(tf.reduce_max(tf.abs(M))),
                'sigmoid_grad_at_8': float(grad[-1])})
