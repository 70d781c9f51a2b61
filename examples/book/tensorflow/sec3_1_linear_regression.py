"""Book 3.1 (linear regression), TensorFlow: vectorization timing and the normal distribution."""
import math
import os

import numpy as np
import tensorflow as tf

from softreg import tensorflow as d2l

n = 1000 if os.environ.get('SOFTREG_BOOK_QUICK') == '1' else 10000
a = d2l.ones(n)
b = d2l.ones(n)
c = tf.Variable(d2l.zeros(n))
timer = d2l.Timer()
for i in range(n):
    c[i].assign(a[i] + b[i])
loop = timer.stop()
print(f'{loop:.5f} sec')
timer.start()
d = a + b
vectorized = timer.stop()
print(f'{vectorized:.5f} sec')


def normal(x, mu, sigma):
    p = 1 / math.sqrt(2 * math.pi * sigma**2)
    return p * np.exp(-0.5 / sigma**2 * (x - mu)**2)


x = np.arange(-7, 7, 0.01)
params = [(0, 1), (0, 2), (3, 1)]
d2l.plot(x, [normal(x, mu, sigma) for mu, sigma in params], xlabel='x', ylabel='p(x)',
         figsize=(4.5, 2.5), legend=[f'mean {mu}, std {sigma}' for mu, sigma in params])
assert bool(tf.reduce_all(d == 2))
print('book:', {'loop_s': loop, 'vectorized_s': vectorized})
