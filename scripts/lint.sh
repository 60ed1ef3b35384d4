#!/usr/bin/env bash
# Static checks: banned functions, the module dependency DAG (ARCHITECTURE.md),
# and cppcheck. Exits non-zero on any finding.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
files=$(git ls-files '*.c' '*.h' | grep -v '^tests/fuzz/corpus/')

# Banned functions (STYLE.md 3.14): unsafe or not thread-safe.
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|strtok|atoi|atol|atof|strncpy|system|rand|localtime|gmtime|strerror|setenv\("TZ"|tzset)\s*\('
# Comment lines (" * ..." or "/* ...") may name a banned function to explain its absence.
hits=$(grep -nE "$banned" $(echo "$files" | grep -v '^tests/') 2>/dev/null | grep -v 'NOLINT' \
  | grep -vE '^[^:]+:[0-9]+:\s*(\*|/\*|//)' || true)
if [ -n "$hits" ]; then
  echo "lint: banned functions:"; echo "$hits"; status=1
fi

# Module DAG: a module may include only itself, core, and the modules listed.
declare -A allow=(
  [core]=""
  [compliance]="core"
  [ari]="core"
  [ivr]="core ari"
  [dialer]="core ari compliance ivr"
  [campaign]="core ari compliance ivr dialer"
  [importers]="core compliance"
  [dashboards]="core"
  [api]="core ari compliance ivr dialer campaign importers dashboards hooks"
  [server]="core ari compliance ivr dialer campaign importers dashboards api hooks"
  [sim]="core ari"
  [hooks]="core ivr"
  [ctl]="core ari compliance ivr dialer campaign importers dashboards api server hooks"
)
for mod in "${!allow[@]}"; do
  [ -d "$mod" ] || continue
  for f in $(echo "$files" | grep "^$mod/"); do
    for inc in $(grep -oE '#include "[a-z_]+/' "$f" | sed -E 's/#include "([a-z_]+)\//\1/' | sort -u); do
      [ "$inc" = "$mod" ] && continue
      case " ${allow[$mod]} " in *" $inc "*) ;; *) echo "lint: $f includes $inc/ (not allowed for $mod)"; status=1 ;; esac
    done
  done
done

# cppcheck on the product code.
if command -v cppcheck >/dev/null 2>&1; then
  if ! cppcheck --quiet --error-exitcode=1 --enable=warning,portability --std=c11 \
      --inline-suppr -I. --suppress=missingIncludeSystem \
      $(echo "$files" | grep -E '\.c$' | grep -v '^tests/') 2>&1; then
    status=1
  fi
fi
[ $status -eq 0 ] && echo "lint: clean"
exit $status
