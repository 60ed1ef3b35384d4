#!/usr/bin/env python3
"""The load suite's report.

report.py OUT_DIR REPORT_MD MODE SECONDS

Reads every OUT_DIR/<scenario>.json (an object: scenario, started, params,
figures [{name, value, unit, target, ok}], series {name: [[x, y], ...]}),
draws one PNG per series with gnuplot into OUT_DIR, and writes REPORT_MD:
the run's conditions, the ratios against the baselines measured in the same
run, then per scenario its parameters, figures and plots. It also replaces
the rows of the rerun scenarios in the "Load suite" section of
docs/PERFORMANCE.md (between the load-suite markers)."""
import datetime
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PERF = os.path.join(ROOT, 'docs', 'PERFORMANCE.md')
BEGIN = '<!-- load-suite:begin -->'
END = '<!-- load-suite:end -->'

# Axis labels of the series the scenarios write (x label, y label).
LABELS = {
    'achieved_vs_offered': ('offered attempts/s', 'achieved attempts/s'),
    'attempts_per_s_over_time': ('seconds', 'originates/s'),
    'ends_per_s_over_time': ('seconds', 'calls ended/s'),
    'rss_mb_over_time': ('seconds', 'dialerd RSS (MB)'),
    'fds_over_time': ('seconds', 'dialerd open fds'),
    'in_flight_over_time': ('seconds', 'calls in flight'),
    'import_rows_over_time': ('seconds', 'rows imported'),
    'rss_kb_vs_in_flight': ('calls in flight', 'dialerd RSS (KB)'),
    'inbound_achieved_vs_offered': ('offered inbound calls/s', 'flows completed/s'),
}


def fmt(v):
    if v is None:
        return 'n/a'
    if isinstance(v, float):
        if abs(v) >= 100:
            return '{:,.0f}'.format(v)
        return '{:.3g}'.format(v)
    if isinstance(v, int):
        return '{:,}'.format(v)
    return str(v)


def plot(out, scen, name, pts):
    if len(pts) < 2:
        return None
    png = '%s-%s.png' % (scen, name)
    dat = os.path.join(out, '.%s-%s.dat' % (scen, name))
    with open(dat, 'w') as f:
        for x, y in pts:
            f.write('%g %g\n' % (x, y))
    xl, yl = LABELS.get(name, ('x', name.replace('_', ' ')))
    script = '\n'.join([
        'set terminal png size 640,360 font ",9"',
        'set output "%s"' % os.path.join(out, png),
        'set title "%s: %s"' % (scen, name.replace('_', ' ')),
        'set xlabel "%s"' % xl, 'set ylabel "%s"' % yl,
        'set grid', 'set key off', 'set yrange [0:*]',
        'plot "%s" using 1:2 title "measured" with linespoints pt 7 ps 0.5 lw 1.5' % dat,
    ])
    if name == 'achieved_vs_offered' or name == 'inbound_achieved_vs_offered':
        script = script.replace('set key off', 'set key top left')
        script += ', x title "offered" with lines dt 2'
    try:
        subprocess.run(['gnuplot'], input=script.encode(), check=True, timeout=30,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except (OSError, subprocess.SubprocessError) as e:
        sys.stderr.write('report: gnuplot failed for %s/%s: %s\n' % (scen, name, e))
        return None
    finally:
        os.unlink(dat)
    return png


def figmap(runs):
    m = {}
    for r in runs:
        for f in r.get('figures', []):
            m[f['name']] = f.get('value')
    return m


def num(v):
    return v if isinstance(v, (int, float)) else None


def ratios(fig):
    """(what, ours, baseline, ratio) rows from figures of the same run."""
    rows = []

    def add(what, a, b, unit):
        x, y = num(fig.get(a)), num(fig.get(b))
        if x is not None and y is not None and y > 0:
            rows.append((what, '%s %s' % (fmt(x), unit), '%s %s' % (fmt(y), unit),
                         '%.2f' % (x / y)))

    add('calls/s per core of CPU: dialerd (full product: leases, attempt rows, flow, call logs) '
        'vs the ari-client peer (the call scenario alone)',
        'cps_ramp_calls_per_cpu_second', 'peer_calls_per_cpu_second', 'calls/s/core')
    add('sustained attempts/s: dialerd end to end vs ari-sim driven alone at full speed',
        'cps_ramp_sustained_attempts_per_s', 'ari_sim_lifecycles_per_s', '/s')
    add('sustained attempts/s: dialerd vs the ari-client peer at full speed',
        'cps_ramp_sustained_attempts_per_s', 'peer_calls_per_s', '/s')
    add('contact import through the API vs psql \\copy of the same CSV',
        'million_import_rows_per_s', 'million_psql_copy_rows_per_s', 'rows/s')
    add('Redis commands per call x sustained calls/s vs redis-benchmark capacity',
        'cps_ramp_redis_ops_per_s', 'redis_benchmark_ops_per_s', 'ops/s')
    return rows


def update_perf(runs, mode, date):
    if os.environ.get('LOAD_DOCS', '1') == '0':
        return
    rerun = os.environ.get('LOAD_RERUN', '').split()
    if rerun:
        runs = [r for r in runs if r.get('scenario') in rerun]
    try:
        with open(PERF) as f:
            text = f.read()
    except OSError:
        return
    cmd = '`load-tests/load.sh%s --only %%s`' % (' --quick' if mode == 'quick' else '')
    new = {}
    for r in runs:
        for f in r.get('figures', []):
            tgt = f.get('target') or '—'
            new[f['name']] = '| %s | %s %s | %s | %s | %s | %s |' % (
                f['name'], fmt(f.get('value')), f.get('unit', ''), tgt, f.get('ok', ''),
                cmd % r['scenario'], date)
    head = ('| figure | value | target | met | command | date |\n'
            '|---|---|---|---|---|---|')
    rows = {}
    if BEGIN in text and END in text:
        body = text.split(BEGIN, 1)[1].split(END, 1)[0]
        for line in body.splitlines():
            m = re.match(r'^\| ([a-z0-9_]+) \|', line)
            if m and m.group(1) != 'figure':
                rows[m.group(1)] = line
    rows.update(new)
    table = head + '\n' + '\n'.join(rows[k] for k in sorted(rows))
    block = BEGIN + '\n' + table + '\n' + END
    if BEGIN in text and END in text:
        pre = text.split(BEGIN, 1)[0]
        post = text.split(END, 1)[1]
        text = pre + block + post
    else:
        text = text.rstrip('\n') + '\n\n## Load suite\n\n' + block + '\n'
    with open(PERF, 'w') as f:
        f.write(text)


def main():
    out, report, mode, secs = sys.argv[1], sys.argv[2], sys.argv[3] or 'full', sys.argv[4]
    runs = []
    for fn in sorted(os.listdir(out)):
        if fn.endswith('.json'):
            try:
                with open(os.path.join(out, fn)) as f:
                    runs.append(json.load(f))
            except (OSError, ValueError) as e:
                sys.stderr.write('report: %s unreadable: %s\n' % (fn, e))
    date = datetime.datetime.utcnow().strftime('%Y-%m-%d')
    rel = os.path.relpath(out, os.path.dirname(os.path.abspath(report)))
    try:
        load = open('/proc/loadavg').read().split()[:3]
    except OSError:
        load = ['?'] * 3
    L = ['# Load suite report', '',
         'Run `%s` (%s form; each scenario\'s start, and its load average when known, are in '
         'its section) last written %s UTC after %s s of scenarios on %d cores; load average '
         'at the end %s (the machine is shared: absolute rates vary by run, the ratios below '
         'are measured in the same run and matter more).' % (
             os.path.basename(out), mode, datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M'),
             secs, os.cpu_count() or 0, ' '.join(load)), '',
         'Command: `load-tests/load.sh%s` (`make load` runs the full form). JSON and plots: '
         '`%s/`.' % (' --quick' if mode == 'quick' else '', rel), '']
    fig = figmap(runs)
    missed = [(r['scenario'], f['name']) for r in runs for f in r.get('figures', [])
              if f.get('ok') == 'no']
    rr = ratios(fig)
    if rr:
        L += ['## Against the baselines (same run)', '',
              '| comparison | ours | baseline | ratio |', '|---|---|---|---|']
        L += ['| %s | %s | %s | %s |' % r for r in rr]
        L.append('')
    L += ['## Targets missed', '']
    L += ['- %s: `%s`' % m for m in missed] if missed else ['None.']
    L.append('')
    for r in runs:
        s = r['scenario']
        try:  # load averages at the scenario's start and end (load.sh)
            with open(os.path.join(out, '%s.load' % s)) as f:
                la = ' Load average (1, 5, 15 min) at its start %s, at its end %s.' % tuple(
                    f.read().split('\n')[:2])
        except (OSError, TypeError):
            la = ''
        L += ['## %s' % s, '', 'Started %s; parameters: %s.%s' % (
            r.get('started', '?'),
            ', '.join('%s=%s' % (k, v) for k, v in sorted(r.get('params', {}).items())) or 'none',
            la), '', '| figure | value | unit | target | met |', '|---|---|---|---|---|']
        for f in r.get('figures', []):
            L.append('| %s | %s | %s | %s | %s |' % (f['name'], fmt(f.get('value')),
                                                    f.get('unit', ''), f.get('target', ''),
                                                    f.get('ok', '')))
        L.append('')
        for name, pts in sorted(r.get('series', {}).items()):
            png = plot(out, s, name, pts)
            if png:
                L.append('![%s %s](%s/%s)' % (s, name, rel, png))
        L.append('')
    with open(report, 'w') as f:
        f.write('\n'.join(L))
    update_perf(runs, mode, date)
    print('report: %d scenarios, %d figures, %d missed targets' % (
        len(runs), sum(len(r.get('figures', [])) for r in runs), len(missed)))


main()
