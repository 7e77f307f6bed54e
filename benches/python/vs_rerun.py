"""The Python client next to rerun's SDK, the same 1 M-point frames (positions f32 + RGB u8).

    python benches/python/vs_rerun.py xpg            # xpg_viewer.points() into a spawned
                                                     # offscreen viewer (each call waits until
                                                     # the viewer has applied the frame)
    python benches/python/vs_rerun.py rerun-file     # rr.log into a file sink
    python benches/python/vs_rerun.py rerun-viewer   # rr.log into a spawned rerun viewer
                                                     # (on this display, bound to 127.0.0.1),
                                                     # flushed: the data has reached its server

Needs NumPy; `pip install rerun-sdk` for the rerun modes; XPG_VIEW (or xpg-view on the
PATH) for the xpg mode. Prints milliseconds per frame.
"""

import os
import socket
import subprocess
import sys
import time

import numpy as np

FRAMES = int(os.environ.get("FRAMES", "20"))
N = 1_000_000
rng = np.random.default_rng(1)
xyz = rng.random((N, 3), dtype=np.float32)
rgb = (rng.random((N, 3)) * 255).astype(np.uint8)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def report(what, seconds):
    print(f"{what}: {seconds / FRAMES * 1e3:.1f} ms per 1M-point frame ({FRAMES} frames)")


mode = sys.argv[1] if len(sys.argv) > 1 else "xpg"
if mode == "xpg":
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "clients", "python"))
    import xpg_viewer

    v = xpg_viewer.spawn(offscreen="320x240", args=["--no-hot-reload", "--no-cache"])
    v.points("points", xyz, colors=rgb)
    t = time.time()
    for k in range(FRAMES):
        v.points("points", xyz + k, colors=rgb)
    report("xpg_viewer points() into a headless viewer (applied)", time.time() - t)
    v.quit()
elif mode == "rerun-file":
    import rerun as rr

    rr.init("bench")
    rr.save(os.path.join(os.environ.get("TMPDIR", "/tmp"), "xpg_rr_bench.rrd"))
    t = time.time()
    for k in range(FRAMES):
        rr.set_time("frame", sequence=k)
        rr.log("points", rr.Points3D(xyz + k, colors=rgb))
    rr.disconnect()
    report("rerun rr.log into a file sink", time.time() - t)
elif mode == "rerun-viewer":
    import rerun as rr

    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "rerun")
    viewer = subprocess.Popen(
        [exe, "--bind", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        rec = rr.RecordingStream("bench")
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        rec.connect_grpc(f"rerun+http://127.0.0.1:{port}/proxy")
        rec.log("points", rr.Points3D(xyz, colors=rgb))
        rec.flush()
        t = time.time()
        for k in range(FRAMES):
            rec.set_time("frame", sequence=k)
            rec.log("points", rr.Points3D(xyz + k, colors=rgb))
        rec.flush()
        report("rerun rr.log into its viewer (flushed to its server)", time.time() - t)
    finally:
        viewer.terminate()
        viewer.wait()
else:
    sys.exit(f"unknown mode {mode!r}: xpg, rerun-file or rerun-viewer")
