#!/usr/bin/env python3
"""Rewrites the configuration table in README.md from `dialerd --help-config`.

Usage: scripts/config-table.py [path/to/dialerd]   (default build/debug/dialerd)

The table sits between the markers <!-- config-table:start --> and
<!-- config-table:end -->; everything else in README.md is left alone, so the
README cannot drift from the options the binary really has.
"""
import re
import subprocess
import sys

binary = sys.argv[1] if len(sys.argv) > 1 else "build/debug/dialerd"
out = subprocess.run([binary, "--help-config"], capture_output=True, text=True, check=True).stdout
lines = out.splitlines()
rows = []
i = 0
while i < len(lines):
    m = re.match(r"^([a-z][a-z0-9.-]*)\s+(\S+)\s+(\S+)\s+(.*)$", lines[i])
    if m and i + 1 < len(lines) and "env DIALERD_" in lines[i + 1]:
        name, typ, default, desc = m.groups()
        env = lines[i + 1].split("env ", 1)[1].strip()
        default = default if default != '""' else '""'
        desc = desc.replace("|", "\\|")
        rows.append(f"| `{name}` | {typ} | `{default}` | `{env}` | {desc} |")
        i += 2
        continue
    i += 1
if not rows:
    sys.exit("config-table: no options found in --help-config output")
table = "| option | type | default | environment | meaning |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
readme = open("README.md").read()
start, end = "<!-- config-table:start -->\n", "<!-- config-table:end -->"
s, e = readme.index(start) + len(start), readme.index(end)
open("README.md", "w").write(readme[:s] + table + readme[e:])
print(f"config-table: {len(rows)} options")
