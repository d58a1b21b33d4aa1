#!/bin/sh
# Supervision set up with hamctl only, against a HAM this script starts on a temporary
# state directory:
#   1. "web" (/bin/sleep 1000) gets a re-armed death condition with a re-armed restart,
#      a log action, and an action-fail item that "pages" (appends to DIR/pages.log) if
#      the restart fails; `status --json` shows all of it. web is killed; `wait --for
#      restarted --since SEQ` returns when it is back, with a new pid.
#   2. "flaky" gets the same, but its restart command does not exist: when it is killed
#      the restart fails, the action-fail item pages, and the HAM removes the entity
#      (`wait --for detached --since SEQ`).
# Then the HAM is stopped (`stop --wait`), the workers killed and the directory removed.
# Prints a timeline in ms; exits 0 when all that happened, non-zero when it did not.
#
# Run: sh examples/hamctl_setup.sh
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
t0=$(date +%s%3N)
mark() { printf '%7s ms  %s\n' "+$(($(date +%s%3N) - t0))" "$*"; }
fail() { mark "FAILED: $*"; exit 1; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/ham-example-XXXXXX")
ctl() { "$repo/bin/hamctl" --state-dir "$dir" "$@"; }
# A top-level number field of a `--json` answer, such as "pid" or "next".
field() { sed -n "s/^  \"$1\": \([0-9][0-9]*\),\{0,1\}\$/\1/p"; }
# The sequence number the next event will get: take it before causing an event.
next_seq() { ctl events --since 999999999 --json | field next; }
# Runs hamctl and puts the command (and what it printed, if anything) on the timeline.
step() {
  out=$(ctl "$@")
  mark "hamctl $*${out:+ -> $out}"
}
workers=""

cleanup() {
  rc=$?
  set +e
  trap - EXIT
  workers="$workers $(ctl status web --json 2>/dev/null | field pid)"
  ctl stop --wait >/dev/null 2>&1 && mark "stopped the HAM: hamctl stop --wait"
  killed=""
  for pid in $workers; do kill -KILL "$pid" 2>/dev/null && killed="$killed $pid"; done
  [ -n "$killed" ] && mark "killed the workers: pid$killed"
  rm -rf "$dir"
  mark "removed $dir"
  if [ "$rc" -eq 0 ]; then mark "done: hamctl setup"; else mark "FAILED (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

echo "== hamctl setup: attach, condition, action, action-fail, status, wait, stop"
mark "created the state directory $dir"
"$repo/bin/ham" --state-dir "$dir" >/dev/null
mark "started the HAM: bin/ham --state-dir DIR -> pid $(ctl status --json | field hamPid)"

# 1. web: restarted when it dies.
pid=$(ctl attach web -- /bin/sleep 1000)
workers="$workers $pid"
mark "hamctl attach web -- /bin/sleep 1000 -> pid $pid"
step condition web/death death --rearm
step action web/death/restart restart --rearm
step action web/death/note log --rearm --message "web died; restarting it"
ctl action-fail web/death/restart page execute -- \
  /bin/sh -c 'echo "page: cannot restart $HAM_ENTITY" >>"$1"' sh "$dir/pages.log"
mark "hamctl action-fail web/death/restart page execute -- /bin/sh -c 'echo ... >>DIR/pages.log'"
json=$(ctl status web --json)
echo "$json" | grep -q '"name": "page"' || fail "status --json to show the action-fail item"
mark "hamctl status web --json: pid $(echo "$json" | field pid)," \
  "restarts $(echo "$json" | field restarts), actions restart + note, action-fail page"

since=$(next_seq)
killed_at=$(date +%s%3N)
kill -KILL "$pid"
mark "kill -KILL $pid (web)"
reached=$(ctl wait web --for restarted --since "$since" --timeout 5s)
new=$(ctl status web --json | field pid)
workers="$workers $new"
mark "hamctl wait web --for restarted --since $since -> $reached: pid $new," \
  "$(($(date +%s%3N) - killed_at)) ms after the kill (with two hamctl start-ups)"
[ -n "$new" ] && [ "$new" != "$pid" ] || fail "a new pid for web (was $pid, now '$new')"
[ "$(ctl status web --json | field restarts)" = 1 ] || fail "web to have restarted once"
mark "ok: web came back as a new pid and restarted once"

# 2. flaky: its restart fails, so its action-fail item pages.
pid=$(ctl attach flaky -- /bin/sleep 1000)
workers="$workers $pid"
mark "hamctl attach flaky -- /bin/sleep 1000 -> pid $pid"
step condition flaky/death death --rearm
step action flaky/death/restart restart --rearm -- /nonexistent/flaky
ctl action-fail flaky/death/restart page execute -- \
  /bin/sh -c 'echo "page: cannot restart $HAM_ENTITY" >>"$1"' sh "$dir/pages.log"
mark "hamctl action-fail flaky/death/restart page execute -- /bin/sh -c 'echo ... >>DIR/pages.log'"
since=$(next_seq)
kill -KILL "$pid"
mark "kill -KILL $pid (flaky)"
reached=$(ctl wait flaky --for detached --since "$since" --timeout 5s)
mark "hamctl wait flaky --for detached --since $since -> $reached (its restart failed)"
grep -q "page: cannot restart flaky" "$dir/pages.log" || fail "the action-fail item to page"
mark "DIR/pages.log: $(cat "$dir/pages.log")"
mark "ok: the failed restart ran its action-fail list"

mark "hamctl status web:"
ctl status web | sed 's/^/            | /; s/ $//'
ctl stop --wait
mark "stopped the HAM: hamctl stop --wait"
