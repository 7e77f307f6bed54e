"""A notebook's use: render data headless and get the images back as arrays."""
import numpy as np

import xpg_viewer

v = xpg_viewer.spawn(offscreen="640x480")
v.points("cloud", np.random.rand(20000, 3), colors=np.random.rand(20000, 3))
for k, eye in enumerate([(2, 1, 2), (-2, 1, 2), (0, 3, 0.01)]):
    v.camera(eye=eye, target=(0.5, 0.5, 0.5))
    img = v.screenshot()  # H x W x 4 uint8: show with matplotlib's imshow in a notebook
    print(k, img.shape, img[..., :3].mean())
v.quit()
