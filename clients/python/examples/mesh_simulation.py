"""A simulation streaming a mesh per step: a wave on a grid, each step a sample at ``frame=``
(then play it back on the viewer's timeline)."""
import numpy as np

import xpg_viewer

v = xpg_viewer.spawn("127.0.0.1:9870")
n = 64
x, y = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n))
faces = []
for j in range(n - 1):
    for i in range(n - 1):
        a = j * n + i
        faces += [[a, a + 1, a + n], [a + 1, a + n + 1, a + n]]
faces = np.array(faces, dtype=np.uint32)
for step in range(200):
    z = 0.1 * np.sin(6 * np.hypot(x, y) - step * 0.1)
    v.mesh("wave", np.stack([x, z, y], -1).reshape(-1, 3), faces, color=(0.3, 0.6, 0.9), frame=step)
v.play()
