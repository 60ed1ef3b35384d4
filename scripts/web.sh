#!/usr/bin/env bash
# Builds the web app (dashboards/web, TypeScript + React + Vite) into
# dashboards/web/dist, which dialerd serves. A no-op until the app exists.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dashboards/web/package.json ] || exit 0
cd dashboards/web
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run build --silent
