"""The Python client against a headless viewer (``xpg-view --offscreen --listen``, started by
``spawn``; ``XPG_VIEW`` names the binary)."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import xpg_viewer


@pytest.fixture(scope="module")
def v():
    viewer = xpg_viewer.spawn("127.0.0.1:0", offscreen="200x150", args=["--validation", "--no-hot-reload", "--no-cache"])
    # A still timeline: the tests put it where they look (the viewer plays by default).
    viewer.pause()
    yield viewer
    viewer.quit()


def red(img):
    return int(((img[..., 0] > 150) & (img[..., 1] < 80) & (img[..., 2] < 80)).sum())


def test_points_show_in_a_screenshot_and_are_replaced(v):
    xyz = np.stack(np.meshgrid(np.linspace(0, 1, 30), np.linspace(0, 1, 30), [0.0]), -1).reshape(-1, 3)
    v.points("scan", xyz, colors=np.array([255, 0, 0], dtype=np.uint8), size=4)
    img = v.screenshot()
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 4
    assert red(img) > 50
    # float64 positions, float colours in 0..1, another count: replaced.
    v.points("scan", xyz[:100].astype(np.float64), colors=np.tile([0.0, 1.0, 0.0], (100, 1)))
    assert red(v.screenshot()) == 0
    png = v.screenshot(format="png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    exr = v.screenshot(format="exr")
    assert exr[:4] == b"\x76\x2f\x31\x01"  # OpenEXR's magic number


def test_sequences_by_frame_and_time(v):
    for k in range(4):
        v.points("walk", np.random.rand(50 + k, 3).astype(np.float32), frame=k)
    v.seek(2 / 30)
    objects = {o["name"]: o for o in v.query()["objects"]}
    assert objects["walk"]["frames"] == 4
    assert objects["walk"]["count"] == 52
    v.remove_frame("walk", frame=3)
    assert {o["name"]: o for o in v.query()["objects"]}["walk"]["frames"] == 3


def test_meshes_lines_images_transforms_and_deletes(v):
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float32)
    v.mesh("sim/cloth", verts, [[0, 1, 2]], color=(0.2, 0.5, 0.9))
    v.mesh("sim/cloth", verts * 2, np.array([[0, 1, 2]], dtype=np.int64))
    v.lines("sim/path", np.random.rand(10, 3), strip=True)
    v.image("cam0", (np.random.rand(8, 12, 3) * 255).astype(np.uint8))
    v.transform("sim/cloth", np.eye(4))
    names = [o["name"] for o in v.query()["objects"]]
    assert {"sim/cloth", "sim/path", "cam0"} <= set(names)
    v.delete("sim")
    names = [o["name"] for o in v.query()["objects"]]
    assert "sim/cloth" not in names and "sim/path" not in names
    assert {"raster", "pathtracer"} <= set(v.query()["renderers"])
    v.camera(eye=(0, 0, 4), target=(0, 0, 0))
    cam = v.camera()
    assert abs(cam["eye"][2] - 4) < 1e-3


def test_errors_raise_with_the_viewers_message(v):
    with pytest.raises(xpg_viewer.ViewerError, match="N x 3"):
        v.points("bad", np.zeros((5, 2)))
    with pytest.raises(xpg_viewer.ViewerError, match="NaN"):
        v.points("bad", np.array([[np.nan, 0, 0]]))
    with pytest.raises(xpg_viewer.ViewerError, match="no object"):
        v.delete("nothing-here")
    # The connection goes on.
    v.points("after", np.zeros((3, 3)))


def test_events_and_widgets(v):
    times = []
    v.on("timeline", times.append)
    v.seek(0.05)
    deadline = time.time() + 10
    while not any(abs(e["time"] - 0.05) < 1e-9 for e in times) and time.time() < deadline:
        v.poll(timeout=0.5)
    assert any(abs(e["time"] - 0.05) < 1e-9 and not e["playing"] for e in times), times
    v.slider("speed", lambda value: None, min=0, max=2, value=1)
    v.text("status", "running")
    v.button("reset", lambda _: None)
    v.remove_widget("reset")


def test_lights_materials_and_cameras(v):
    v.mesh("wall", [[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], [[0, 1, 2], [0, 2, 3]])
    v.material("wall", base_color=(0.9, 0.1, 0.1), roughness=0.5)
    v.light("sun", direction=(0, 0, -1), color=(1, 1, 1), intensity=2)
    v.scene_camera("cam", eye=(0, 0, 4), target=(0, 0, 0))
    kinds = {o["name"]: o["kind"] for o in v.query()["objects"]}
    assert kinds["sun"] == "light" and kinds["cam"] == "camera" and kinds["wall"] == "mesh"
    with pytest.raises(xpg_viewer.ViewerError, match="materials are for meshes"):
        v.material("sun", base_color=(1, 0, 0))
    v.light("bulb", kind="point", position=(0, 0, 1), intensity=1, range=2.5)
    # Properties over time: samples at times, and the timeline spans them.
    v.transform("wall", np.eye(4), time=0.0)
    v.transform("wall", np.diag([2.0, 2.0, 2.0, 1.0]), time=3.0)
    v.light("sun", direction=(0, 0, -1), intensity=0.5, frame=90)
    v.material("wall", base_color=(0.1, 0.9, 0.1), time=3.0)
    v.lines("trail", np.zeros((4, 3)), strip=True, time=0.0)
    v.lines("trail", np.ones((4, 3)), strip=True, time=3.0)
    assert v.query()["span"][1] == 3.0
    v.delete("trail")
    v.transform("wall", np.eye(4))
    with pytest.raises(xpg_viewer.ViewerError, match="not a number"):
        v.request({"type": "transform", "name": "wall", "time": "soon"}, [("matrix", np.eye(4, dtype=np.float32))])
    with pytest.raises(xpg_viewer.ViewerError, match="range"):
        v.light("bulb", kind="point", range=0)


def test_mesh_sequences(v):
    faces = [[0, 1, 2]]
    for k in range(3):
        tri = np.array([[0, 0, 0], [1 + k, 0, 0], [0, 1, 0]], dtype=np.float32)
        v.mesh("cloth", tri, faces, frame=k)
    # Another topology at frame 3: two triangles.
    quad = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], dtype=np.float32)
    v.mesh("cloth", quad, [[0, 1, 2], [0, 2, 3]], frame=3)
    v.seek(3 / 30)
    cloth = {o["name"]: o for o in v.query()["objects"]}["cloth"]
    assert cloth["frames"] == 4 and cloth["count"] == 4
    v.seek(1 / 30)
    assert {o["name"]: o for o in v.query()["objects"]}["cloth"]["count"] == 3
    v.remove_frame("cloth", frame=3)
    assert {o["name"]: o for o in v.query()["objects"]}["cloth"]["frames"] == 3


def test_image_sequences(v):
    for k in range(3):
        v.image("camera0", np.full((6, 8, 3), 40 * k, dtype=np.uint8), frame=k)
    assert {o["name"]: o for o in v.query()["objects"]}["camera0"]["frames"] == 3
    with pytest.raises(xpg_viewer.ViewerError, match="8x6"):
        v.image("camera0", np.zeros((4, 4, 3), dtype=np.uint8), frame=5)


def test_pick(v):
    h, w, _ = v.screenshot().shape
    # A wall through the camera's target, facing it, a little nearer than everything there.
    cam = v.camera()
    eye, target = np.array(cam["eye"]), np.array(cam["target"])
    d = np.linalg.norm(eye - target)
    n = (eye - target) / d
    a = np.cross(n, [0.0, 1.0, 0.0] if abs(n[1]) < 0.9 else [1.0, 0.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(n, a)
    c = target + 0.5 * d * n
    quad = np.array([c - d * a - d * b, c + d * a - d * b, c + d * a + d * b, c - d * a + d * b])
    v.mesh("pickwall", quad.astype(np.float32), [[0, 1, 2], [0, 2, 3]])
    hit = v.pick(w / 2, h / 2)
    assert hit["hit"] and hit["kind"] == "mesh" and hit["object"] == "pickwall", hit
    assert np.linalg.norm(np.array(hit["position"]) - c) < 0.01 * d, hit
    assert not v.pick(-5, -5)["hit"]
    v.delete("pickwall")


def test_axes_and_frusta(v):
    poses = np.tile(np.eye(4, dtype=np.float32), (3, 1, 1))
    poses[:, 0, 3] = [0.0, 1.0, 2.0]
    v.axes("traj/axes", poses, length=0.2)
    v.frustum("traj/cams", poses, fov=50, aspect=1.5, depth=0.3)
    objects = {o["name"]: o for o in v.query()["objects"]}
    assert objects["traj/axes"]["kind"] == "lines" and objects["traj/cams"]["kind"] == "lines"
    with pytest.raises(xpg_viewer.ViewerError, match="depth"):
        v.frustum("bad", poses, depth=-1)
    v.delete("traj")


def test_spheres_arrows_voxels_and_tubes(v):
    rng = np.random.default_rng(1)
    centers = rng.uniform(-1, 1, (50, 3)).astype(np.float32)
    v.spheres("shapes/balls", centers, radius=rng.uniform(0.02, 0.05, 50), values=centers[:, 1])
    v.arrows("shapes/field", centers, np.cross(centers, [0, 1, 0]), scale=0.2, colormap="coolwarm")
    grid = np.zeros((4, 5, 6), dtype=np.float32)  # Z x Y x X
    grid[1:3, 1:4, 2:5] = 1.0
    v.voxels("shapes/grid", grid=grid, size=0.1, threshold=0.5)
    v.voxels("shapes/cells", cells=[[0, 0, 0], [3, 1, 2]], colors=[[0, 0, 255], [255, 0, 0]], size=0.2)
    v.tubes("shapes/path", centers[:10], radius=0.01, strip=True)
    objects = {o["name"]: o for o in v.query()["objects"]}
    for name in ["balls", "field", "grid", "cells", "path"]:
        assert objects["shapes/" + name]["kind"] == "mesh", objects["shapes/" + name]
    with pytest.raises(xpg_viewer.ViewerError, match="colormap"):
        v.arrows("bad", centers, centers, colormap="rainbow")
    with pytest.raises(ValueError, match="grid"):
        v.voxels("bad", grid=np.zeros((2, 2)))
    with pytest.raises(xpg_viewer.ViewerError, match="radii"):
        v.spheres("bad", centers, radius=[0.1, 0.2])
    v.delete("shapes")


def test_renderer_settings(v):
    for mode in ["wboit", "sorted", "peeling"]:
        v.set("transparency", mode)
    v.set("peel_layers", 24)
    with pytest.raises(xpg_viewer.ViewerError, match="transparency"):
        v.set("transparency", "painter")
    with pytest.raises(xpg_viewer.ViewerError, match="no setting"):
        v.set("no_such_key", 1)


def test_large_arrays_through_shared_memory(v):
    # The fixture's viewer is local: large arrays pass through a file in /dev/shm.
    assert v.shared_memory
    n = 100_000  # 1.2 MB of positions
    xyz = np.zeros((n, 3), dtype=np.float32)
    xyz[:, 0] = np.arange(n)
    v.points("big", xyz, colors=np.array([255, 0, 0], dtype=np.uint8))
    for k in range(3):  # the file's region is reused call after call
        xyz[:, 1] = k
        v.points("big", xyz)
    big = {o["name"]: o for o in v.query()["objects"]}["big"]
    assert big["count"] == n
    path = v._shared.path
    assert os.path.exists(path)
    # A local client that does not want it sends the arrays in the messages.
    w = xpg_viewer.connect(v.address, shared_memory=False)
    assert not w.shared_memory
    w.points("big2", xyz)
    w.close()
    assert {o["name"]: o for o in v.query()["objects"]}["big2"]["count"] == n


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_an_offscreen_viewer_ends_with_its_program():
    # A script that spawns an offscreen viewer and exits without quit(): the viewer goes too.
    script = "import xpg_viewer as xv; v = xv.spawn('127.0.0.1:0', offscreen='64x48'); print(v.process.pid, flush=True)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.split()[-1])
    deadline = time.time() + 10
    while time.time() < deadline and _running(pid):
        time.sleep(0.1)
    assert not _running(pid), f"viewer {pid} still runs"


def test_viewports_playback_and_rgba_colours(v):
    # A second viewport, path traced, with screenshots of its own; then the raster; then closed.
    first = v.query()["viewports"]
    vp = v.add_viewport("pathtracer")
    assert vp not in first and vp in v.query()["viewports"]
    img = v.screenshot(viewport=vp)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 4
    v.set_renderer("raster", viewport=vp)
    assert v.screenshot(viewport=vp).shape == img.shape
    v.close_viewport(vp)
    assert v.query()["viewports"] == first
    with pytest.raises(xpg_viewer.ViewerError, match=f"no viewport {vp}"):
        v.screenshot(viewport=vp)
    # N x 4 uint8 colours, in an emptied scene.
    for o in v.query()["objects"]:
        v.delete(o["name"])
    v.camera(eye=(0, 0, 4), target=(0, 0, 0))
    before = red(v.screenshot())
    grid = np.stack(np.meshgrid(np.linspace(-0.5, 0.5, 20), np.linspace(-0.5, 0.5, 20), [0.0]), -1)
    xyz = grid.reshape(-1, 3)
    rgba = np.tile(np.array([255, 0, 0, 200], dtype=np.uint8), (len(xyz), 1))
    v.points("rgba", xyz, colors=rgba, size=6)
    assert red(v.screenshot()) > before + 20
    v.delete("rgba")
    # play(): the time moves on; pause() stops it.
    v.points("tick", xyz, frame=0)
    v.points("tick", xyz, frame=30)
    v.seek(0.0)
    v.play()
    time.sleep(0.3)
    v.pause()
    t = v.query()["time"]
    assert t > 0.0
    time.sleep(0.2)
    assert v.query()["time"] == t
    v.delete("tick")


def test_the_screenshots_example_runs():
    # The headless example as a user runs it (a viewer of its own, ended by quit()).
    example = os.path.join(os.path.dirname(__file__), "..", "examples", "screenshots.py")
    out = subprocess.run([sys.executable, example], capture_output=True, text=True, timeout=180,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.returncode == 0, out.stderr
    lines = [l.split() for l in out.stdout.splitlines() if l[:1].isdigit()]
    assert [l[0] for l in lines] == ["0", "1", "2"], out.stdout


def test_the_notebook_example_runs():
    # The notebook's code cells, in order, as one program.
    import json
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "screenshots.ipynb")
    with open(path) as f:
        cells = json.load(f)["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), MPLBACKEND="Agg"))
    assert out.returncode == 0, out.stderr
