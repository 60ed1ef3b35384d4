#!/usr/bin/env python3
"""Percentile of a Prometheus cumulative histogram between two /metrics
snapshots: hist.py FAMILY QUANTILE BEFORE_FILE AFTER_FILE -> milliseconds
(linear inside the bucket; "nan" when nothing was observed; the top finite
bound when the quantile falls in +Inf)."""
import math
import re
import sys


def buckets(path, fam):
    out = {}
    pat = re.compile(r'^' + re.escape(fam) + r'_bucket\{le="([^"]+)"\} (\d+)')
    try:
        with open(path) as f:
            for line in f:
                m = pat.match(line)
                if m:
                    le = math.inf if m.group(1) == '+Inf' else float(m.group(1))
                    out[le] = int(m.group(2))
    except OSError:
        pass
    return out


def pct(fam, q, before, after):
    a = buckets(after, fam)
    b = buckets(before, fam) if before != '-' else {}
    les = sorted(a)
    cum = [a[le] - b.get(le, 0) for le in les]
    if not cum or cum[-1] <= 0:
        return float('nan')
    want = q * cum[-1]
    prev_le, prev_c = 0.0, 0
    for le, c in zip(les, cum):
        if c >= want:
            if math.isinf(le):
                return prev_le * 1000
            frac = (want - prev_c) / (c - prev_c) if c > prev_c else 1.0
            return (prev_le + (le - prev_le) * frac) * 1000
        prev_le, prev_c = le, c
    return prev_le * 1000


if __name__ == '__main__':
    v = pct(sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4])
    print('nan' if math.isnan(v) else '%.3f' % v)
