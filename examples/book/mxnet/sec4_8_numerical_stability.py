"""Book 4.8 (numerical stability and initialization), MXNet."""
from mxnet import autograd, np, npx

from softreg import mxnet as d2l

npx.set_np()
x = np.arange(-8.0, 8.0, 0.1)
x.attach_grad()
with autograd.record():
    y = npx.sigmoid(x)
y.backward()
d2l.plot(x, [y, x.grad], legend=['sigmoid', 'gradient'], figsize=(4.5, 2.5))
M = np.random.normal(size=(4, 4))
print('a single matrix', M)
for i in range(100):
    M = np.dot(M, np.random.normal(size=(4, 4)))
print('after multiplying 100 matrices', M)
print('book:', {'max_abs_after_100': float(np.abs(M).max()),
                'sigmoid_grad_at_8': float(x.grad[-1])})
