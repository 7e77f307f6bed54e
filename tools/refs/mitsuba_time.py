"""Mitsuba 3's paths per second on the reference scenes at 1920x1080 (the GPU machine, its
cuda_ad_rgb variant; the references' integrator: path, max_depth -1, rr_depth 5), for the path
tracer benchmark's efficiency table (`cargo bench --bench pt_bench -- --mitsuba FILE`).

    python3 tools/refs/mitsuba_time.py OUT.json [--variant cuda_ad_rgb] [--spp 16] [--runs 3]

Writes {"scene": paths per second}. The first render of each scene (its kernels' compilation)
is not timed; each timed render is waited for (its image read back).
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_refs import cornell_box, env_diffuse, many_lights, sky_map  # noqa: E402
from new_scenes import emitters_10k, interior_sky  # noqa: E402
from scenegen import mitsuba_dict  # noqa: E402

SCENES = {"cornell_box": cornell_box, "many_lights": many_lights, "env_diffuse": env_diffuse,
          "interior_sky": interior_sky, "emitters_10k": emitters_10k}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--variant", default="cuda_ad_rgb")
    ap.add_argument("--spp", type=int, default=16)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", default="1920x1080")
    a = ap.parse_args()
    import mitsuba as mi
    mi.set_variant(a.variant)
    w, h = (int(x) for x in a.size.split("x"))
    rates = {}
    for name, make in SCENES.items():
        scene = make()
        # The same view at another size: the vertical field of view stays.
        scene["camera"] = dict(scene["camera"], width=w, height=h)
        with tempfile.TemporaryDirectory() as tmp:
            env = scene.get("environment")
            if env and "equirect" in env:
                env["path"] = Path(tmp) / "sky_mitsuba_rows.exr"
                half = mi.Struct.Type.Float16
                mi.Bitmap(sky_map(mitsuba_rows=True)).convert(component_format=half).write(str(env["path"]))
            sc = mi.load_dict(mitsuba_dict(scene, tmp, mi))
            np.array(mi.render(sc, spp=a.spp, seed=0))
            times = []
            for r in range(a.runs):
                t = time.perf_counter()
                np.array(mi.render(sc, spp=a.spp, seed=r + 1))
                times.append(time.perf_counter() - t)
        t = sorted(times)[len(times) // 2]
        rates[name] = w * h * a.spp / t
        print(f"{name}: {rates[name] / 1e6:.0f} M paths/s ({t * 1e3:.1f} ms for {a.spp} spp at {w}x{h})",
              flush=True)
    Path(a.out).write_text(json.dumps(rates, indent=1))


if __name__ == "__main__":
    main()
