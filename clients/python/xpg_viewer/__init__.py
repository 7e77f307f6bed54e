"""A client of the xpg viewer (``xpg-view --listen``): send point clouds, meshes, lines and
images, steer playback and the camera, take screenshots.

    import numpy as np, xpg_viewer
    v = xpg_viewer.connect()                 # 127.0.0.1:9870
    v.points("robot/scan", np.random.rand(1000, 3), colors=np.random.rand(1000, 3))
    img = v.screenshot()                      # H x W x 4 uint8

Every call waits for the viewer's reply: when it returns, the viewer has applied it, and a
screenshot shows every earlier call. Errors the viewer reports raise ``ViewerError`` with its
message. The wire format is documented in docs/protocol.md; this module needs only NumPy.

On the viewer's machine (a loopback address, Linux, a viewer of protocol 1.1 or later) large
arrays travel through shared memory: a file in /dev/shm that this client writes and the
viewer reads (``connect(..., shared_memory=False)`` turns it off).
"""

import atexit
import collections
import ipaddress
import mmap
import json
import os
import select
import shutil
import socket
import struct
import subprocess
import threading
import time

import numpy as np

__all__ = ["connect", "spawn", "Viewer", "ViewerError", "PROTOCOL_VERSION", "DEFAULT_ADDRESS"]

PROTOCOL_VERSION = (1, 5)

# Requests whose arrays hold at least this many bytes pass them through shared memory.
_SHARED_FROM = 256 << 10
DEFAULT_ADDRESS = "127.0.0.1:9870"

_DTYPES = {
    np.dtype("uint8"): "u1",
    np.dtype("int8"): "i1",
    np.dtype("uint16"): "u2",
    np.dtype("int16"): "i2",
    np.dtype("uint32"): "u4",
    np.dtype("int32"): "i4",
    np.dtype("int64"): "i8",
    np.dtype("float32"): "f4",
    np.dtype("float64"): "f8",
}


class ViewerError(Exception):
    """The viewer refused a request (its message), or the connection failed."""


def _array(name, a):
    a = np.asarray(a)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    if a.dtype not in _DTYPES:
        a = a.astype(np.float32 if a.dtype.kind == "f" else np.int64)
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))
    return {"name": name, "dtype": _DTYPES[np.dtype(a.dtype.name)], "shape": list(a.shape)}, a


def _recv_exact(sock, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ViewerError("the viewer closed the connection")
        got += k
    return bytes(buf)


def _drain(stream, keep):
    for line in stream:
        keep.append(line.rstrip("\n"))


def _parse_address(address):
    host, _, port = address.rpartition(":")
    return (host or "127.0.0.1", int(port))


class _SharedFile:
    """A file in /dev/shm that the viewer reads arrays from (one region: every call waits for
    its reply before the next one writes)."""

    _count = 0

    # The arrays start after the nonce the viewer reads back in the handshake.
    START = 64

    def __init__(self):
        _SharedFile._count += 1
        self.name = f"xpg-{os.getpid()}-{_SharedFile._count}-{os.urandom(6).hex()}"
        self.path = os.path.join("/dev/shm", self.name)
        self.fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        self.size = 0
        self.map = None
        atexit.register(self.close)
        self.nonce = os.urandom(16).hex()
        os.pwrite(self.fd, self.nonce.encode(), 0)

    def write(self, datas):
        """Writes the arrays one after another (64-byte aligned); returns their offsets, or
        None when /dev/shm has no room (the arrays then go in the message)."""
        offsets, at = [], self.START
        for d in datas:
            offsets.append(at)
            at += (d.nbytes + 63) // 64 * 64
        if at > self.size:
            if self.map is not None:
                self.map.close()
                self.map = None
            size = max(1 << 20, 1 << (at - 1).bit_length())
            try:
                # Allocated now: writing a mapping past a full tmpfs would kill the process.
                os.posix_fallocate(self.fd, 0, size)
            except OSError:
                self.size = 0
                return None
            self.size = size
            self.map = mmap.mmap(self.fd, self.size)
        for d, off in zip(datas, offsets):
            self.map[off : off + d.nbytes] = memoryview(d).cast("B")
        return offsets

    def close(self):
        if self.fd is None:
            return
        if self.map is not None:
            self.map.close()
        os.close(self.fd)
        self.fd = None
        try:
            os.unlink(self.path)
        except OSError:
            pass


def _is_loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class Viewer:
    """A connection to a viewer (see ``connect`` and ``spawn``)."""

    def __init__(self, address=DEFAULT_ADDRESS, token=None, process=None, shared_memory=True):
        self.address = address
        self.process = process
        self._shared = None
        try:
            self._sock = socket.create_connection(_parse_address(address))
        except OSError as e:
            raise ViewerError(f"no viewer at {address}: {e}") from e
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._next_id = 1
        self._handlers = {}
        self._widgets = {}
        hello = {"type": "hello", "version": list(PROTOCOL_VERSION), "client": "xpg_viewer (Python)", "token": token}
        # Shared memory offered on this machine: a file with a nonce the viewer reads back.
        offer = None
        if shared_memory and _is_loopback(_parse_address(address)[0]) and os.path.isdir("/dev/shm"):
            try:
                offer = _SharedFile()
                hello.update(shm=offer.name, shm_nonce=offer.nonce)
            except OSError:
                offer = None
        reply = self._exchange(hello, [], with_id=False)
        if reply[0].get("type") != "welcome":
            raise ViewerError(reply[0].get("message", "refused"))
        self.server = reply[0].get("server", "")
        self.version = tuple(reply[0].get("version", (1, 0)))
        # The viewer read the nonce back: it sees this file (else it goes).
        if offer is not None and reply[0].get("shared_memory") is True:
            self._shared = offer
        elif offer is not None:
            offer.close()

    @property
    def shared_memory(self):
        """Whether large arrays go through shared memory."""
        return self._shared is not None

    # -- the wire -------------------------------------------------------------------------------
    def _send(self, header, arrays):
        specs, datas = [], []
        for name, a in arrays:
            spec, data = _array(name, a)
            specs.append(spec)
            datas.append(data)
        if self._shared is not None and sum(d.nbytes for d in datas) >= _SHARED_FROM:
            # Into shared memory: the message carries where they are.
            offsets = self._shared.write(datas)
            if offsets is not None:
                for spec, off in zip(specs, offsets):
                    spec["shm"], spec["offset"] = self._shared.name, off
                datas = []
        if specs:
            header = dict(header, arrays=specs)
        text = json.dumps(header).encode()
        parts = [struct.pack("<I", len(text)), text] + [memoryview(d).cast("B") for d in datas]
        for p in parts:
            self._sock.sendall(p)

    def _read(self):
        (n,) = struct.unpack("<I", _recv_exact(self._sock, 4))
        header = json.loads(_recv_exact(self._sock, n))
        arrays = {}
        for spec in header.pop("arrays", []) or []:
            dtype = np.dtype("<" + spec["dtype"]) if spec["dtype"] not in ("u1", "i1") else np.dtype(spec["dtype"])
            shape = tuple(spec["shape"])
            count = int(np.prod(shape)) if shape else 1
            data = _recv_exact(self._sock, count * dtype.itemsize)
            arrays[spec["name"]] = np.frombuffer(data, dtype=dtype).reshape(shape)
        return header, arrays

    def _exchange(self, header, arrays, with_id=True):
        if with_id:
            header = dict(header, id=self._next_id)
            self._next_id += 1
        self._send(header, arrays)
        while True:
            reply = self._read()
            kind = reply[0].get("type")
            if kind == "error":
                raise ViewerError(reply[0].get("message", "error"))
            if not with_id or reply[0].get("id") == header.get("id"):
                return reply
            self._dispatch(reply)

    def _dispatch(self, reply):
        header = reply[0]
        if header.get("type") != "event":
            return
        kind = header.get("event")
        if kind == "widget":
            callback = self._widgets.get(header.get("name"))
            if callback is not None:
                callback(header.get("value"))
            return
        for callback in self._handlers.get(kind, []):
            callback(header)

    # -- events and widgets -------------------------------------------------------------------
    def on(self, event, callback):
        """Calls ``callback(event_dict)`` for each ``event``: "key" (a key pressed in the
        viewer: ``{"key": "A", "viewport": 1}``), "timeline" (``{"time", "playing", "span"}``),
        "selection" (``{"node", "name", "object"}``) or "pick" (a click in a viewport: the
        fields of ``pick()``). Events are delivered while the client
        waits for a reply, or by ``poll()``."""
        self._handlers.setdefault(event, []).append(callback)
        self._exchange({"type": "subscribe", "events": sorted(self._handlers)}, [])

    def poll(self, timeout=0.0):
        """Delivers the events that arrived (waiting up to ``timeout`` seconds for the first).
        Returns how many."""
        delivered = 0
        wait = timeout
        while select.select([self._sock], [], [], wait)[0]:
            self._dispatch(self._read())
            delivered += 1
            wait = 0.0
        return delivered

    def _widget(self, name, kind, callback, **fields):
        if callback is not None:
            self._widgets[name] = callback
        self._exchange({"type": "widget", "name": name, "kind": kind, **fields}, [])

    def button(self, name, on_click, label=None):
        """A button in the viewer's Clients panel; ``on_click(True)`` when pressed."""
        self._widget(name, "button", on_click, label=label or name)

    def slider(self, name, on_change, min=0.0, max=1.0, value=0.0, label=None):
        """A slider; ``on_change(value)`` when moved."""
        self._widget(name, "slider", on_change, label=label or name, min=float(min), max=float(max), value=float(value))

    def checkbox(self, name, on_change, value=False, label=None):
        """A checkbox; ``on_change(bool)``."""
        self._widget(name, "checkbox", on_change, label=label or name, value=bool(value))

    def text(self, name, value, label=None):
        """Text shown in the panel (call again to change it)."""
        self._widget(name, "text", None, label=label or name, value=str(value))

    def remove_widget(self, name):
        self._widgets.pop(name, None)
        self._exchange({"type": "widget", "name": name, "remove": True}, [])

    def request(self, header, arrays=()):
        """Sends a raw request (a header dict and (name, array) pairs); returns the reply's
        header and arrays."""
        return self._exchange(header, list(arrays))

    # -- objects --------------------------------------------------------------------------------
    @staticmethod
    def _when(frame, time):
        at = {}
        if time is not None:
            at["time"] = float(time)
        elif frame is not None:
            at["frame"] = int(frame)
        return at

    @staticmethod
    def _colors(colors, n):
        c = np.asarray(colors)
        if c.ndim == 1:
            c = np.broadcast_to(c, (n, c.shape[0]))
        if c.dtype.kind == "f":
            c = c.astype(np.float32)
        return c

    def points(self, name, positions, colors=None, scalars=None, size=None, frame=None, time=None,
               size_world=None):
        """A point cloud named ``name`` (N x 3). ``colors``: N x 3 or N x 4, uint8 0-255 or
        floats 0-1 (or one colour for all); ``scalars``: N values through a colormap;
        ``size`` in pixels, or ``size_world``: a diameter in world units (round splats that
        grow as they come nearer). With ``frame=`` or ``time=``, a sample of a sequence."""
        p = np.asarray(positions)
        arrays = [("positions", p)]
        if colors is not None:
            arrays.append(("colors", self._colors(colors, len(p))))
        if scalars is not None:
            arrays.append(("scalars", np.asarray(scalars, dtype=np.float32)))
        header = {"type": "points", "name": name, **self._when(frame, time)}
        if size is not None:
            header["size"] = float(size)
        if size_world is not None:
            header["size_world"] = float(size_world)
        self._exchange(header, arrays)

    def mesh(self, name, vertices, faces, colors=None, color=None, frame=None, time=None):
        """A triangle mesh: ``vertices`` N x 3, ``faces`` M x 3 indices; per-vertex ``colors``
        or one base ``color`` (RGB or RGBA, 0-1)."""
        v = np.asarray(vertices)
        arrays = [("vertices", v), ("faces", np.asarray(faces).astype(np.uint32))]
        if colors is not None:
            arrays.append(("colors", self._colors(colors, len(v))))
        header = {"type": "mesh", "name": name, **self._when(frame, time)}
        if color is not None:
            c = [float(x) for x in color]
            header["color"] = c + [1.0] * (4 - len(c))
        self._exchange(header, arrays)

    def lines(self, name, positions, strip=False, colors=None, width=None, frame=None, time=None):
        """Line segments (pairs of points) or, with ``strip=True``, a polyline. With ``frame=``
        or ``time=``, a sample over time (positions in between interpolated while the count
        stays)."""
        p = np.asarray(positions)
        arrays = [("positions", p)]
        if colors is not None:
            arrays.append(("colors", self._colors(colors, len(p))))
        header = {"type": "lines", "name": name, "strip": bool(strip), **self._when(frame, time)}
        if width is not None:
            header["width"] = float(width)
        self._exchange(header, arrays)

    def image(self, name, pixels, frame=None, time=None):
        """An image on a quad: H x W x 3 or 4 (uint8, or floats 0-1), or H x W grey. With
        ``frame=`` or ``time=``, a sample of a sequence (all of the first one's size)."""
        self._exchange({"type": "image", "name": name, **self._when(frame, time)}, [("pixels", np.asarray(pixels))])

    def transform(self, name, matrix, frame=None, time=None):
        """An object's 4 x 4 transform (rows as NumPy writes them); with ``frame=`` or
        ``time=``, a sample over time (scale, rotation and translation interpolated)."""
        m = np.asarray(matrix, dtype=np.float32).reshape(4, 4)
        self._exchange({"type": "transform", "name": name, **self._when(frame, time)}, [("matrix", m)])

    def axes(self, name, poses, length=1.0, width=None):
        """Coordinate-axis triads (x red, y green, z blue, ``length`` long) at ``poses``: one
        4 x 4 object-to-world matrix or N x 4 x 4 (rows as NumPy writes them)."""
        p = np.asarray(poses, dtype=np.float32).reshape(-1, 4, 4)
        self._exchange({"type": "axes", "name": name, "length": length, "width": width}, [("poses", p)])

    def frustum(self, name, poses, fov=60.0, aspect=4 / 3, depth=0.5, color=(1.0, 0.8, 0.2, 1.0),
                cameras=False):
        """Camera frusta at ``poses`` (4 x 4 or N x 4 x 4 camera-to-world matrices; the camera
        looks down -Z with +Y up): vertical ``fov`` in degrees, ``aspect`` width / height, drawn
        to ``depth`` from the eye, in ``color`` (RGBA, 0-1). With ``cameras=True`` (at most 256
        poses) each is also a camera of the scene, ``NAME/camera/I``, to look through (C in a
        viewport steps through the scene's cameras)."""
        p = np.asarray(poses, dtype=np.float32).reshape(-1, 4, 4)
        h = {"type": "frustum", "name": name, "fov": fov, "aspect": aspect, "depth": depth, "color": list(color),
             "cameras": bool(cameras)}
        self._exchange(h, [("poses", p)])

    # -- shapes for data (protocol 1.2): meshes that both renderers draw --------------------------
    @staticmethod
    def _colormap(header, colormap):
        if colormap is not None:
            header["colormap"] = str(colormap)

    def spheres(self, name, centers, radius=0.05, colors=None, values=None, colormap=None, detail=1):
        """Spheres at ``centers`` (N x 3) of ``radius`` (one for all, or N radii); ``colors``
        (as for points) or ``values`` (N) through ``colormap`` ("viridis", "coolwarm", "gray");
        ``detail``: icosphere subdivisions 0-4."""
        c = np.asarray(centers)
        arrays = [("centers", c)]
        header = {"type": "spheres", "name": name, "detail": int(detail)}
        r = np.asarray(radius, dtype=np.float32)
        if r.ndim == 0:
            header["radius"] = float(r)
        else:
            arrays.append(("radii", r.reshape(-1)))
        if colors is not None:
            arrays.append(("colors", self._colors(colors, len(c))))
        if values is not None:
            arrays.append(("values", np.asarray(values, dtype=np.float32).reshape(-1)))
        self._colormap(header, colormap)
        self._exchange(header, arrays)

    def tubes(self, name, positions, radius=0.01, strip=False, colors=None, caps=True):
        """Tubes of world-space ``radius`` along segments (pairs of points) or, with
        ``strip=True``, a polyline; ``caps`` closes their ends."""
        p = np.asarray(positions)
        arrays = [("positions", p)]
        if colors is not None:
            arrays.append(("colors", self._colors(colors, len(p))))
        self._exchange({"type": "tubes", "name": name, "radius": float(radius), "strip": bool(strip),
                        "caps": bool(caps)}, arrays)

    def arrows(self, name, origins, vectors, scale=1.0, radius=None, colors=None, colormap=None):
        """Arrows from ``origins`` along ``vectors`` (N x 3 each) times ``scale``; coloured by
        ``colors``, else by length through ``colormap``; ``radius``: the shaft's (default 4 %
        of the longest arrow)."""
        o = np.asarray(origins)
        arrays = [("origins", o), ("vectors", np.asarray(vectors))]
        header = {"type": "arrows", "name": name, "scale": float(scale)}
        if radius is not None:
            header["radius"] = float(radius)
        if colors is not None:
            arrays.append(("colors", self._colors(colors, len(o))))
        self._colormap(header, colormap)
        self._exchange(header, arrays)

    def voxels(self, name, grid=None, cells=None, size=1.0, origin=(0.0, 0.0, 0.0), threshold=0.0,
               colors=None, values=None, colormap=None):
        """Voxels of edge ``size`` from ``origin``: a dense ``grid`` (a Z x Y x X array: cells
        above ``threshold`` are filled, coloured through ``colormap``) or a list of ``cells``
        (N x 3 integer coordinates x, y, z) with ``colors`` or ``values``."""
        header = {"type": "voxels", "name": name, "size": float(size), "origin": [float(x) for x in origin],
                  "threshold": float(threshold)}
        if (grid is None) == (cells is None):
            raise ValueError("voxels: give either grid= or cells=")
        if grid is not None:
            g = np.asarray(grid)
            if g.ndim != 3:
                raise ValueError(f"voxels: grid of shape {g.shape}, expected Z x Y x X")
            arrays = [("grid", g.astype(np.float32, copy=False))]
        else:
            c = np.asarray(cells)
            arrays = [("cells", c.astype(np.int32, copy=False))]
            if colors is not None:
                arrays.append(("colors", self._colors(colors, len(c))))
            if values is not None:
                arrays.append(("values", np.asarray(values, dtype=np.float32).reshape(-1)))
        self._colormap(header, colormap)
        self._exchange(header, arrays)

    def light(self, name, kind="directional", color=(1.0, 1.0, 1.0), intensity=1.0, position=(0, 0, 0),
              direction=(0, -1, 0), cone=(20.0, 30.0), shadows=True, range=None, frame=None, time=None):
        """A light: ``directional`` (``direction``, irradiance ``intensity`` in W/m^2),
        ``point`` (``position``, W/sr) or ``spot`` (both, ``cone`` angles in degrees);
        ``shadows``: whether it casts shadows in the raster; ``range``: the distance where a
        point or spot light reaches zero (None: unbounded). With ``frame=`` or ``time=``, its
        colour, intensity and pose are a sample over time."""
        header = {"type": "light", "name": name, "kind": kind, "color": [float(c) for c in color],
                  "intensity": float(intensity), "position": [float(c) for c in position],
                  "direction": [float(c) for c in direction], "cone": [float(c) for c in cone],
                  "shadows": bool(shadows), **self._when(frame, time)}
        if range is not None:
            header["range"] = float(range)
        self._exchange(header, [])

    def material(self, name, base_color=None, metallic=None, roughness=None, emissive=None, frame=None,
                 time=None):
        """Changes a mesh's material (colours linear, 0-1); with ``frame=`` or ``time=``, the
        values given are samples over time."""
        h = {"type": "material", "name": name, **self._when(frame, time)}
        if base_color is not None:
            c = [float(x) for x in base_color]
            h["base_color"] = c + [1.0] * (4 - len(c))
        if metallic is not None:
            h["metallic"] = float(metallic)
        if roughness is not None:
            h["roughness"] = float(roughness)
        if emissive is not None:
            h["emissive"] = [float(x) for x in emissive]
        self._exchange(h, [])

    def scene_camera(self, name, eye, target, up=(0.0, 1.0, 0.0), fov=45.0):
        """A camera of the scene (to look through: C in a viewport steps through them)."""
        self._exchange({"type": "scene_camera", "name": name, "eye": [float(x) for x in eye],
                        "target": [float(x) for x in target], "up": [float(x) for x in up], "fov": float(fov)}, [])

    def delete(self, name):
        """Deletes an object, or every object under ``name/``."""
        self._exchange({"type": "delete", "name": name}, [])

    def remove_frame(self, name, frame=None, time=None):
        """Removes a sample of a sequence."""
        self._exchange({"type": "remove_frame", "name": name, **self._when(frame, time)}, [])

    # -- the viewer -----------------------------------------------------------------------------
    def play(self, speed=None):
        h = {"type": "playback", "action": "play"}
        if speed is not None:
            h["speed"] = float(speed)
        self._exchange(h, [])

    def pause(self):
        self._exchange({"type": "playback", "action": "pause"}, [])

    def seek(self, time):
        self._exchange({"type": "playback", "action": "seek", "time": float(time)}, [])

    def camera(self, eye=None, target=None, up=(0.0, 1.0, 0.0), viewport=None):
        """Sets the camera (``eye`` and ``target``), or returns it (no arguments): a dict with
        eye, target, up and fov (degrees)."""
        h = {"type": "camera", "viewport": viewport}
        if eye is not None or target is not None:
            h.update(eye=[float(x) for x in eye], target=[float(x) for x in target], up=[float(x) for x in up])
            self._exchange(h, [])
            return None
        return self._exchange(h, [])[0]

    def pick(self, x, y, viewport=None):
        """What is under pixel (x, y) (from the top left) of a viewport (the first by default),
        after every earlier call: ``{"hit": False}`` or ``{"hit": True, "kind": "mesh" |
        "points" | "lines", "name", "object" (the client's name for it), "index" (triangle,
        point or segment), "position", "color", "scalar", ...}``."""
        reply = self._exchange({"type": "pick", "viewport": viewport, "x": x, "y": y}, [])[0]
        reply.pop("type", None)
        reply.pop("id", None)
        return reply

    def screenshot(self, viewport=None, format="rgba8"):
        """The viewport's image after every earlier call: an H x W x 4 uint8 array (or the
        bytes of a PNG file with ``format="png"``, of an EXR file of linear radiance with
        ``format="exr"``)."""
        header, arrays = self._exchange({"type": "screenshot", "viewport": viewport, "format": format}, [])
        if format in ("png", "exr"):
            return arrays[format].tobytes()
        return arrays["pixels"].copy()

    def query(self):
        """The objects clients made, the playback time and span, the viewports."""
        return self._exchange({"type": "query"}, [])[0]

    def add_viewport(self, renderer="raster"):
        return self._exchange({"type": "viewport", "action": "add", "renderer": renderer}, [])[0]["viewport"]

    def close_viewport(self, viewport):
        """Closes viewport ``viewport`` (an id from ``add_viewport`` or ``query()["viewports"]``)."""
        self._exchange({"type": "viewport", "action": "close", "viewport": int(viewport)}, [])

    def set_renderer(self, renderer, viewport=None):
        self._exchange({"type": "viewport", "action": "renderer", "renderer": renderer, "viewport": viewport}, [])

    def set(self, key, value, viewport=None):
        """Sets a setting of a viewport's renderer (its Settings popup's keys): a switch, a
        number or an option's name, e.g. ``set("transparency", "peeling")`` (raster:
        ``peeling``, ``wboit``, ``sorted``) or ``set("peel_layers", 32)``."""
        self._exchange({"type": "viewport", "action": "set", "key": str(key), "value": value,
                        "viewport": viewport}, [])

    def quit(self):
        """Asks the viewer to stop (its window closes; an offscreen viewer ends)."""
        try:
            self._exchange({"type": "quit"}, [])
        finally:
            self.close()
        if self.process is not None:
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def close(self):
        try:
            self._sock.close()
        except OSError:
            pass
        if self._shared is not None:
            self._shared.close()
            self._shared = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(address=DEFAULT_ADDRESS, token=None, shared_memory=True):
    """Connects to a viewer listening at ``address`` ("host:port"). ``shared_memory``: pass
    large arrays through /dev/shm when the viewer is on this machine."""
    return Viewer(address, token=token, shared_memory=shared_memory)


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()


def spawn(address=None, offscreen=None, args=(), timeout=60.0, token=None):
    """Connects to the viewer listening at ``address`` (the default address, 127.0.0.1:9870,
    when None), else starts ``xpg-view`` (the ``XPG_VIEW`` environment variable, or the PATH)
    listening there (on a free port when ``address`` is None; "127.0.0.1:0" always starts a
    new viewer), and connects. With ``offscreen="WxH"`` it runs without a window (it stops on
    ``quit()``, or when this program exits). A viewer started on another address than
    127.0.0.1 prints the token its clients send; ``token`` is sent to one already there."""
    try:
        return Viewer(address or DEFAULT_ADDRESS, token=token)
    except (ViewerError, OSError, ValueError):
        pass
    exe = os.environ.get("XPG_VIEW") or shutil.which("xpg-view")
    if not exe:
        raise ViewerError("xpg-view not found: set XPG_VIEW or put it on the PATH")
    listen = address or "127.0.0.1:0"
    cmd = [exe, f"--listen={listen}"]
    if offscreen:
        cmd += ["--offscreen", offscreen]
    cmd += list(args)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    if offscreen:
        # An offscreen viewer shows nothing once this program is gone: it ends with it (a
        # window stays open to be looked at).
        atexit.register(_stop, proc)
    # Its output is read all along (a pipe nobody reads would stop the viewer once full); the
    # last lines of its log are kept for errors.
    proc.log = collections.deque(maxlen=100)
    threading.Thread(target=_drain, args=(proc.stderr, proc.log), daemon=True).start()
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                time.sleep(0.1)
                raise ViewerError("xpg-view exited: " + "\n".join(proc.log))
            continue
        if line.startswith("listening on ") and "the token " in line:
            # Not only this machine: the viewer made the token its clients must send.
            token = token or line.split()[-1]
            continue
        if line.startswith("listening on "):
            threading.Thread(target=_drain, args=(proc.stdout, proc.log), daemon=True).start()
            return Viewer(line.split()[2], token=token, process=proc)
    proc.kill()
    raise ViewerError("xpg-view did not start listening in time")
