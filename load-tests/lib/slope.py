#!/usr/bin/env python3
"""Least-squares slope of "x y" lines: slope.py FILE [FROM_FRACTION]
prints "slope intercept n"; FROM_FRACTION (0-1) skips the first part of the
points (a warm-up). Prints "nan nan 0" with fewer than two points."""
import sys

pts = []
with open(sys.argv[1]) as f:
    for line in f:
        p = line.split()
        if len(p) >= 2:
            try:
                pts.append((float(p[0]), float(p[1])))
            except ValueError:
                pass
skip = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
pts = pts[int(len(pts) * skip):]
n = len(pts)
if n < 2:
    print('nan nan 0')
    sys.exit(0)
mx = sum(x for x, _ in pts) / n
my = sum(y for _, y in pts) / n
sxx = sum((x - mx) ** 2 for x, _ in pts)
if sxx == 0:
    print('nan nan %d' % n)
    sys.exit(0)
b = sum((x - mx) * (y - my) for x, y in pts) / sxx
print('%.6g %.6g %d' % (b, my - b * mx, n))
