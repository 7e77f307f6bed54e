"""A live random walk of points: ``python random_walk.py`` (starts a viewer if none listens)."""
import time

import numpy as np

import xpg_viewer

v = xpg_viewer.spawn("127.0.0.1:9870")
p = np.zeros((5000, 3), dtype=np.float32)
for step in range(1000):
    p += np.random.normal(scale=0.01, size=p.shape).astype(np.float32)
    v.points("walk", p, scalars=np.linalg.norm(p, axis=1))
    time.sleep(1 / 60)
