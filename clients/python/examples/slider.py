"""A slider in the viewer drives this program: the Clients panel shows a slider and a button;
moving the slider re-samples a spiral with that many turns, the button resets it."""
import numpy as np

import xpg_viewer

v = xpg_viewer.spawn("127.0.0.1:9870")


def spiral(turns):
    t = np.linspace(0, 1, 20000)
    a = 2 * np.pi * turns * t
    return np.stack([np.cos(a) * t, t - 0.5, np.sin(a) * t], -1).astype(np.float32)


def on_turns(value):
    v.points("spiral", spiral(value), scalars=np.linspace(0, 1, 20000))
    v.text("status", f"{value:.2f} turns")


v.slider("turns", on_turns, min=1, max=20, value=5, label="turns")
v.button("reset", lambda _: on_turns(5.0), label="reset")
v.on("key", lambda e: print("key", e["key"]))
on_turns(5.0)
while True:
    v.poll(timeout=0.1)
