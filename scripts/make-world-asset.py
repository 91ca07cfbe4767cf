#!/usr/bin/env python3
"""Regenerate assets/world-110m.bin, the world map of `investigate`'s report.

Source: Natural Earth 1:110m admin-0 countries (public domain), as TopoJSON
in the npm package world-atlas 2.0.2 (countries-110m.json; packaging ISC).

    scripts/make-world-asset.py                 # runs `npm pack world-atlas@2.0.2`
    scripts/make-world-asset.py path/to/world-atlas-2.0.2.tgz

Format (little-endian): b"THW1", u16 ring count, then per ring a u16 point
count and the points as i16 pairs (longitude, latitude) in hundredths of a
degree. Each ring is one polygon ring of one country (outer rings and holes
alike; the report fills them even-odd and strokes their edges, so coastlines
and borders both show).
"""
import json
import struct
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def topology(arg):
    if arg is None:
        tmp = tempfile.mkdtemp()
        subprocess.run(["npm", "pack", "world-atlas@2.0.2"], cwd=tmp, check=True, capture_output=True)
        arg = next(Path(tmp).glob("world-atlas-*.tgz"))
    with tarfile.open(arg) as t:
        return json.load(t.extractfile("package/countries-110m.json"))


def arcs(topo):
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    out = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            pts.append((x * sx + tx, y * sy + ty))
        out.append(pts)
    return out


def ring(idx, all_arcs):
    pts = []
    for i in idx:
        a = all_arcs[i] if i >= 0 else list(reversed(all_arcs[~i]))
        pts.extend(a if not pts else a[1:])
    return pts


def main():
    topo = topology(sys.argv[1] if len(sys.argv) > 1 else None)
    all_arcs = arcs(topo)
    rings = []
    for g in topo["objects"]["countries"]["geometries"]:
        polys = {"Polygon": [g.get("arcs", [])], "MultiPolygon": g.get("arcs", [])}.get(g["type"], [])
        for poly in polys:
            for r in poly:
                pts = []
                for lon, lat in ring(r, all_arcs):
                    p = (round(lon * 100), round(lat * 100))
                    if not pts or pts[-1] != p:
                        pts.append(p)
                if len(pts) >= 3:
                    rings.append(pts)
    out = bytearray(b"THW1") + struct.pack("<H", len(rings))
    for pts in rings:
        out += struct.pack("<H", len(pts))
        for lon, lat in pts:
            out += struct.pack("<hh", lon, lat)
    dest = ROOT / "assets/world-110m.bin"
    dest.write_bytes(bytes(out))
    print(f"{dest}: {len(rings)} rings, {sum(len(p) for p in rings)} points, {len(out)} bytes")


if __name__ == "__main__":
    main()
