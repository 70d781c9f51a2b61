"""Facts, rules and neutral maths: errors, settings, the framework table, shapes, numerics, metrics.

The lowest layer: these modules import nothing else of softreg's but each other, and no
framework.
"""
