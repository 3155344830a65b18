#!/usr/bin/env bash
# `npm test`: type-check and build, then every test tier, each through `npm run test:<tier>` (its npm banner
# "> pkg@version test:<tier>" names the tier in the output), then one line per tier and a total. A failing tier
# does not stop the ones after it: the command fails at the end. A failing type-check or build does stop it at
# once: the tiers would test code that does not compile, or a dist/ (the CLI, the VSIX) older than the source.
#
#   scripts/test-all.sh                 what `npm test` runs
#   scripts/test-all.sh --summary LOG   what failed, the per-tier lines and the total, from the output of a run (.ci/run's)
#   MLC_TEST_TIERS   tiers to run, in order (default: unit,docker,podman,e2e,gpu)
#   MLC_TEST_LOG     where the whole output is kept as well (default: a new file under $TMPDIR, named at the end)
set -uo pipefail

# The summary of a run's output: per tier (in the order they ran), from mocha's "N passing / N failing / N pending"
# lines after each tier's npm banner, and the exit status this script records for each; then the total.
summary() {
  awk '
    function add(t) { if (!(t in seen)) { seen[t] = 1; order[++k] = t } }
    { sub(/\r$/, ""); gsub(/\033\[[0-9;]*m/, "") }
    /^> [^ ]+ test:[a-z0-9]+$/ { split($3, a, ":"); tier = a[2]; add(tier) }
    /^ +[0-9]+ (passing|failing|pending)/ { t = tier == "" ? "?" : tier; add(t); n[t, $2] += $1; any[t] = 1; total[$2] += $1 }
    /^\[test-all\] test:[a-z0-9]+ exited [0-9]+$/ { split($2, a, ":"); add(a[2]); rc[a[2]] = $4 }
    END {
      for (i = 1; i <= k; i++) {
        t = order[i]
        failedRc = (t in rc) && rc[t] != 0
        if (!(t in any) && failedRc) printf "  %s: failed before any test ran (exit %d)\n", t, rc[t]
        else printf "  %s: %d passed, %d failed, %d skipped%s\n", t, n[t, "passing"], n[t, "failing"], n[t, "pending"], failedRc ? sprintf(" (exit %d)", rc[t]) : ""
      }
      printf "tests: %d passed, %d failed, %d skipped\n", total["passing"], total["failing"], total["pending"]
    }' "$1"
}

# What failed, from each tier's mocha "N failing" block (the titles, the error and the first lines of its stack), so
# that the end of a run, which is all a CI page may keep, says which tests failed and why. At most 40 lines a tier.
failures() {
  awk '
    { sub(/\r$/, ""); gsub(/\033\[[0-9;]*m/, "") }
    /^> [^ ]+ test:[a-z0-9]+$/ { split($3, a, ":"); tier = a[2]; on = 0; next }
    /^\[test-all\] / { on = 0; next }
    /^ +[0-9]+ failing/ { on = 1; shown = 0; printf "== failing in %s:\n", tier == "" ? "?" : tier; next }
    on && shown < 40 { print; shown++; if (shown == 40) print "  … (the rest is in the log)" }
  ' "$1"
}

case ${1:-} in
  --summary) [ -r "${2:-}" ] || { echo "test-all: --summary needs the log of a run" >&2; exit 2; }; failures "$2"; summary "$2"; exit 0 ;;
  -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
  '') ;;
  *) echo "test-all: unknown argument $1" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."

log=${MLC_TEST_LOG:-$(mktemp "${TMPDIR:-/tmp}/mlc-test.XXXXXX.log")}
: >"$log"
# Ctrl-C ends the whole run, not just the tier it interrupts.
interrupted=0
trap 'interrupted=1' INT TERM

for step in typecheck build; do
  npm run "$step" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  [ "$interrupted" = 1 ] && exit 130
  if [ "$rc" -ne 0 ]; then
    echo "[test-all] $step failed (exit $rc): no tier run, there is nothing to test until it passes" | tee -a "$log"
    exit "$rc"
  fi
done

IFS=, read -r -a tiers <<<"${MLC_TEST_TIERS:-unit,docker,podman,e2e,gpu}"
failed=()
for tier in "${tiers[@]}"; do
  [ -n "$tier" ] || continue
  npm run "test:$tier" 2>&1 | tee -a "$log"
  rc=${PIPESTATUS[0]}
  [ "$interrupted" = 1 ] && { echo "[test-all] interrupted in test:$tier"; exit 130; }
  echo "[test-all] test:$tier exited $rc" | tee -a "$log"
  [ "$rc" -eq 0 ] || failed+=("$tier")
done

echo
failures "$log"
echo "== tiers (output: $log)"
summary "$log"
if [ ${#failed[@]} -gt 0 ]; then
  echo "npm test: FAILED in ${failed[*]}"
  exit 1
fi
echo "npm test: every tier passed"
