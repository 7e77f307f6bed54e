#!/usr/bin/env python3
"""Writes a binary PLY terrain of N x N vertices (2 (N-1)^2 triangles) for viewer benchmarks:
python3 benches/data/terrain_ply.py 708 terrain.ply  ->  1.0 M triangles."""
import math
import struct
import sys

n = int(sys.argv[1])
out = sys.argv[2]
with open(out, "wb") as f:
    faces = 2 * (n - 1) * (n - 1)
    f.write(
        f"ply\nformat binary_little_endian 1.0\nelement vertex {n * n}\n"
        f"property float x\nproperty float y\nproperty float z\n"
        f"element face {faces}\nproperty list uchar uint vertex_indices\nend_header\n".encode()
    )
    verts = bytearray()
    for j in range(n):
        for i in range(n):
            x, z = i / (n - 1) * 20 - 10, j / (n - 1) * 20 - 10
            y = math.sin(x * 0.9) * math.cos(z * 0.7) + 0.3 * math.sin(x * 3.1 + z * 2.3)
            verts += struct.pack("<fff", x, y, z)
    f.write(verts)
    tri = struct.Struct("<BIII")
    buf = bytearray()
    for j in range(n - 1):
        for i in range(n - 1):
            a = j * n + i
            buf += tri.pack(3, a, a + n, a + 1)
            buf += tri.pack(3, a + 1, a + n, a + n + 1)
    f.write(buf)
