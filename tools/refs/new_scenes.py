"""The project's own reference scenes (issue 28), made with the same tools and conventions as
the shared ones (`scenegen.py`, `make_refs.py` and `compare.py` here are unchanged copies of
them; conventions: tests/data/refs/README.md):

- `interior_sky`: a closed room lit through a window by the sky of env_diffuse (its sun falls
  on the floor), a small bright emissive strip on the ceiling and a point lamp behind a
  partition: most of the scene sees only some of its lights;
- `emitters_10k`: 10,000 small emissive quads (100 emitters of 100 quads each, one per cell
  of a 10 x 10 grid, radiance spanning two orders of magnitude) over a floor with boxes and
  a ball.

Usage (Mitsuba 3 on the CPU, its llvm variant):

    python3 -m venv /tmp/mi && /tmp/mi/bin/pip install mitsuba==3.9.1 numpy
    apt-get install libllvm19
    DRJIT_LIBLLVM_PATH=/usr/lib/x86_64-linux-gnu/libLLVM.so.19.1 \\
        /tmp/mi/bin/python tools/refs/new_scenes.py [--spp N] [NAME ...]

writes tests/data/refs/scenes/NAME.gltf (+ .bin, and sky.exr, the same as the shared one) and
tests/data/refs/refs/NAME.exr, NAME_var.exr, NAME.json.
"""
import argparse
from pathlib import Path

import numpy as np

from make_refs import build, sky_map  # noqa: F401 (sky_map: the sky.exr both scenes share)
from scenegen import box, merge, quad, uv_sphere

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "tests" / "data" / "refs"


def wall_with_window(x, y0, y1, z0, z1, wy0, wy1, wz0, wz1):
    """The wall x = const between (y0..y1, z0..z1), with a rectangular opening
    (wy0..wy1, wz0..wz1): four quads around it, front faces towards +x."""
    parts = []
    for (a0, a1, b0, b1) in [(y0, wy0, z0, z1), (wy1, y1, z0, z1), (wy0, wy1, z0, wz0),
                             (wy0, wy1, wz1, z1)]:
        c = (x, (a0 + a1) / 2, (b0 + b1) / 2)
        # cross(u, v) = +x for u along +y, v along +z.
        parts.append(quad(c, (0, (a1 - a0) / 2, 0), (0, 0, (b1 - b0) / 2)))
    return merge(*parts)


def interior_sky():
    """A 4 x 2.8 x 6 m room (x in [-2, 2], z in [-3, 3]); the -x wall has a 2 x 1.2 m window
    through which the sky's sun (elevation 35 degrees, from -x and -z) falls on the floor."""
    W, H, D = 2.0, 2.8, 3.0
    walls = [
        ("floor", quad((0, 0, 0), (0, 0, D), (W, 0, 0)), (0.55, 0.45, 0.35)),
        ("ceiling", quad((0, H, 0), (W, 0, 0), (0, 0, D)), (0.8, 0.8, 0.8)),
        ("back", quad((0, H / 2, -D), (W, 0, 0), (0, H / 2, 0)), (0.7, 0.7, 0.65)),
        ("front", quad((0, H / 2, D), (0, H / 2, 0), (W, 0, 0)), (0.7, 0.7, 0.65)),
        ("right", quad((W, H / 2, 0), (0, 0, D), (0, H / 2, 0)), (0.6, 0.65, 0.7)),
    ]
    objs = [{"name": n, "mesh": m, "albedo": a} for n, m, a in walls]
    objs.append({"name": "window_wall",
                 "mesh": wall_with_window(-W, 0.0, H, -D, D, 0.9, 2.1, -1.6, 0.4),
                 "albedo": (0.7, 0.7, 0.65)})
    # A partition hides the point lamp in the far right corner from most of the room.
    objs.append({"name": "partition", "mesh": box(1.6, 2.2, 0.06), "albedo": (0.6, 0.6, 0.6),
                 "translation": (1.2, 1.1, -1.6)})
    objs.append({"name": "table", "mesh": box(1.2, 0.75, 0.8), "albedo": (0.45, 0.3, 0.2),
                 "translation": (-0.6, 0.375, 0.2), "rotation_y_deg": 10.0})
    objs.append({"name": "ball", "mesh": uv_sphere(0.3, 32, 64), "albedo": (0.8, 0.8, 0.8),
                 "translation": (0.8, 0.3, 0.9)})
    objs.append({"name": "cabinet", "mesh": box(0.5, 1.8, 0.5), "albedo": (0.3, 0.4, 0.6),
                 "translation": (1.7, 0.9, 0.3), "rotation_y_deg": -8.0})
    # A small, bright strip on the ceiling (front face down).
    objs.append({"name": "strip", "mesh": quad((0.6, H - 0.001, -0.6), (0.3, 0, 0), (0, 0, 0.015)),
                 "albedo": (0, 0, 0), "emission": (150.0, 140.0, 125.0)})
    points = [{"name": "lamp", "position": (1.4, 1.6, -2.5), "color": (1.0, 0.75, 0.5),
               "intensity": 6.0}]
    return {"camera": {"eye": (1.6, 1.6, 2.9), "target": (-1.0, 0.9, -1.0), "up": (0, 1, 0),
                       "yfov_deg": 65.0, "width": 256, "height": 256},
            "objects": objs, "points": points, "environment": {"equirect": "sky.exr"}}


def emitters_10k():
    """10,000 small emitters 2.5-3.5 m above a 12 x 12 m floor: 100 emitters (one colour and
    radiance each, 10^0 to 10^2 W/(m^2 sr)), each the 100 quads over one cell of a 10 x 10
    grid."""
    rng = np.random.default_rng(11)
    objs = [{"name": "floor", "mesh": quad((0, 0, 0), (0, 0, 6), (6, 0, 0)), "albedo": (0.5, 0.5, 0.5)},
            {"name": "back", "mesh": quad((0, 2, -6), (6, 0, 0), (0, 2, 0)), "albedo": (0.6, 0.6, 0.55)}]
    for k, (pos, size, rot, alb) in enumerate([
            ((-1.8, 0.5, -1.0), (1.0, 1.0, 1.0), 25, (0.7, 0.3, 0.2)),
            ((1.4, 0.9, -2.0), (0.8, 1.8, 0.8), -30, (0.3, 0.6, 0.3)),
            ((0.6, 0.2, 1.2), (1.6, 0.4, 0.7), 15, (0.6, 0.6, 0.7))]):
        objs.append({"name": f"box{k}", "mesh": box(*size), "albedo": alb, "translation": pos,
                     "rotation_y_deg": rot})
    objs.append({"name": "ball", "mesh": uv_sphere(0.6, 32, 64), "albedo": (0.8, 0.75, 0.6),
                 "translation": (-0.4, 0.6, 0.6)})
    # The 10,000 quads: a jittered 100 x 100 grid over [-6, 6]^2; each emitter is the 100
    # quads of one 1.2 x 1.2 m cell (so that each object's bounds stay small, as the emitters
    # of real scenes are: a ray meets few of them).
    g = (np.arange(100) + 0.5) / 100 * 12 - 6
    gx, gz = np.meshgrid(g, g)
    cx = gx.ravel() + rng.uniform(-0.04, 0.04, 10_000)
    cz = gz.ravel() + rng.uniform(-0.04, 0.04, 10_000)
    cy = rng.uniform(2.5, 3.5, 10_000)
    half = rng.uniform(0.005, 0.02, (10_000, 2))
    ix, iz = np.meshgrid(np.arange(100), np.arange(100))
    owner = (iz.ravel() // 10) * 10 + ix.ravel() // 10
    for k in range(100):
        quads = [quad((cx[i], cy[i], cz[i]), (half[i, 0], 0, 0), (0, 0, half[i, 1]))
                 for i in np.flatnonzero(owner == k)]  # front faces point down
        color = rng.uniform(0.3, 1.0, 3)
        radiance = color / color.max() * 10 ** rng.uniform(0.0, 2.0)
        objs.append({"name": f"emitters{k:02d}", "mesh": merge(*quads), "albedo": (0, 0, 0),
                     "emission": tuple(radiance)})
    return {"camera": {"eye": (0, 2.2, 7.5), "target": (0, 0.6, 0), "up": (0, 1, 0),
                       "yfov_deg": 50.0, "width": 256, "height": 256}, "objects": objs}


SCENES = {"interior_sky": interior_sky, "emitters_10k": emitters_10k}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="*", default=list(SCENES))
    ap.add_argument("--spp", type=int, default=16384)
    ap.add_argument("--batches", type=int, default=128)
    ap.add_argument("--out", type=Path, default=DATA)
    a = ap.parse_args()
    build(a.names, out_scenes=a.out / "scenes", out_refs=a.out / "refs",
          scene_set={n: (SCENES[n], a.spp) for n in a.names}, batches=a.batches)
