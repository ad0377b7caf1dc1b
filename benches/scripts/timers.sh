#!/usr/bin/env bash
# benches/scripts/timers.sh [WORKDIR] [-- MQBENCH TIMERS ARGS...]
#
# Timer precision (issue 19): a fresh fast-try group, then
#   mqbench timers --rate RATE --spread-secs SPREAD --duration-secs DURATION
# (timed messages at a steady rate, each due uniformly within the next
# SPREAD seconds; consumers receive and ack; lateness = receive time - due
# time). Prints mqbench's JSON report, and the brokers' CPU seconds over
# the run. Everything it starts is stopped on exit.
#
# Environment: RAFTMQ_BIN_DIR (required), RATE [10000], SPREAD [120],
# DURATION [150], SIZE [256], CONSUMERS [4]. Arguments after -- go to
# mqbench timers as they are.
set -euo pipefail

here=$(CDPATH='' cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(CDPATH='' cd -P "$here/../.." && pwd)
work=$(mktemp -d /tmp/timers.XXXXXX)
if [[ $# -gt 0 && $1 != -- ]]; then
  work=$1
  shift
fi
[[ ${1:-} != -- ]] || shift
: "${RAFTMQ_BIN_DIR:?set RAFTMQ_BIN_DIR to a directory holding mqnamesrv, mqbroker, mqadmin, mqbench}"
export RAFTMQ_BIN_DIR
mkdir -p "$work"

# shellcheck source=lib/groups.sh
. "$here/lib/groups.sh"
trap stop_all_groups EXIT

cpu_seconds() {
  local pid total=0 ticks
  for pid in ${1//,/ }; do
    ticks=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")
    total=$((total + ticks))
  done
  echo "$total $(getconf CLK_TCK)" | awk '{ printf "%.1f", $1 / $2 }'
}

new_group timers
start_group timers
pids=$(group_pids timers)
cpu0=$(cpu_seconds "$pids")
say "mqbench timers: rate ${RATE:-10000}/s, spread ${SPREAD:-120} s, ${DURATION:-150} s of sending"
"$RAFTMQ_BIN_DIR/mqbench" timers --namesrv "$(group_ns timers)" --topic Timed --group TimedReaders \
  --rate "${RATE:-10000}" --spread-secs "${SPREAD:-120}" --duration-secs "${DURATION:-150}" \
  --size "${SIZE:-256}" --consumers "${CONSUMERS:-4}" --json "$@" | tail -n 1
cpu1=$(cpu_seconds "$pids")
echo "broker CPU over the run: $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.1f", b - a }') s (members $pids)"
