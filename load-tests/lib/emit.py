#!/usr/bin/env python3
"""Writes a scenario's JSON from its figures and series:
emit.py NAME STARTED PARAMS_JSON FIGURES_TSV SERIES_DIR > NAME.json
figures.tsv: name value unit target ok (tab-separated); each file of
SERIES_DIR is one series, lines "x y"."""
import json
import os
import sys


def num(s):
    try:
        v = float(s)
        if v != v or v in (float('inf'), float('-inf')):
            return None
        return int(v) if v.is_integer() and 'e' not in s.lower() and '.' not in s else v
    except ValueError:
        return s


def main():
    name, started, params, figs, sdir = sys.argv[1:6]
    figures = []
    with open(figs) as f:
        for line in f:
            p = line.rstrip('\n').split('\t')
            if len(p) >= 5:
                figures.append({'name': p[0], 'value': num(p[1]), 'unit': p[2],
                                'target': p[3], 'ok': p[4]})
    series = {}
    if os.path.isdir(sdir):
        for s in sorted(os.listdir(sdir)):
            pts = []
            with open(os.path.join(sdir, s)) as f:
                for line in f:
                    p = line.split()
                    if len(p) >= 2:
                        try:
                            pts.append([float(p[0]), float(p[1])])
                        except ValueError:
                            continue
            series[s] = pts
    json.dump({'scenario': name, 'started': started, 'params': json.loads(params),
               'figures': figures, 'series': series}, sys.stdout, indent=1)
    sys.stdout.write('\n')


main()
