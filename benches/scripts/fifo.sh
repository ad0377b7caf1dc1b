#!/usr/bin/env bash
# benches/scripts/fifo.sh [ROUNDS] [WORKDIR]
#
# FIFO drain against normal drain (issue 20), in one run on one fast-try
# group. One backlog of N messages in MESSAGE_GROUPS message groups
# (message i in group g<i % MESSAGE_GROUPS>; the SDK pins a group to one of
# the topic's 8 queues) is sent once:
#   mqbench produce --topic FifoDrain --messages N --message-groups MESSAGE_GROUPS
# then, each round, drained twice from the start by two new consumer
# groups, one normal and one FIFO (mqadmin updateSubGroup -o true):
#   mqbench consume --group <kind>-<round> --messages N --check-order
# normal first on odd rounds and FIFO first on even ones. Prints a markdown
# table with the medians, every run, and fifo/normal.
# Everything it starts is stopped on exit, and the group's store removed.
#
# Environment: RAFTMQ_BIN_DIR (required), N [200000], MESSAGE_GROUPS [1000],
# SIZE [1024], INFLIGHT [4] receivers, BATCH [128] messages per receive.
set -euo pipefail

here=$(CDPATH='' cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(CDPATH='' cd -P "$here/../.." && pwd)
rounds=${1:-3}
work=${2:-$(mktemp -d /tmp/fifo.XXXXXX)}
n=${N:-200000}
groups=${MESSAGE_GROUPS:-1000}
size=${SIZE:-1024}
inflight=${INFLIGHT:-4}
batch=${BATCH:-128}
: "${RAFTMQ_BIN_DIR:?set RAFTMQ_BIN_DIR to a directory holding mqnamesrv, mqbroker, mqadmin, mqbench}"
export RAFTMQ_BIN_DIR
out=$work/results
mkdir -p "$out"
topic=FifoDrain

# shellcheck source=lib/groups.sh
. "$here/lib/groups.sh"
# The backlog's store (3 copies of N messages) goes at the end; the
# results stay.
trap 'stop_all_groups; rm -rf "${work:?}/fifo"' EXIT

new_group fifo
start_group fifo
ns=$(group_ns fifo)
pids=$(group_pids fifo)
"$RAFTMQ_BIN_DIR/mqadmin" updateTopic -n "$ns" -c RaftCluster -t "$topic" -r 8 -w 8 \
  -a +message.type=FIFO >&2
say "sending $n messages in $groups message groups"
"$RAFTMQ_BIN_DIR/mqbench" produce --namesrv "$ns" --topic "$topic" --size "$size" \
  --messages "$n" --inflight 256 --message-groups "$groups" --json | tail -n 1 >"$out/produce.json"
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then order=(normal fifo); else order=(fifo normal); fi
  for kind in "${order[@]}"; do
    group=$kind-$r
    orderly=false
    [[ $kind == fifo ]] && orderly=true
    "$RAFTMQ_BIN_DIR/mqadmin" updateSubGroup -n "$ns" -c RaftCluster -g "$group" -o "$orderly" >&2
    say "round $r: $kind drain ($group)"
    "$RAFTMQ_BIN_DIR/mqbench" consume --namesrv "$ns" --topic "$topic" --group "$group" \
      --messages "$n" --inflight "$inflight" --batch "$batch" --check-order \
      --server-pids "$pids" --json | tail -n 1 >"$out/$kind-$r.json"
  done
done

python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
rows = {k: [json.load(open(f"{out}/{k}-{r}.json")) for r in range(1, rounds + 1)] for k in ("normal", "fifo")}
produce = json.load(open(f"{out}/produce.json"))
print(f"backlog: {produce['messages']:,} messages sent at {produce['msgs_per_sec']:,} msg/s")
fmt = lambda v: f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
print("| figure | normal drain (median; each) | FIFO drain (median; each) | fifo/normal (median; each round) |")
print("|---|---|---|---|")
for key, name in (("msgs_per_sec", "msg/s"), ("p50_us", "receive+ack p50 us"), ("p99_us", "receive+ack p99 us"), ("server_cpu_us_per_msg", "broker CPU us/msg"), ("out_of_order", "first deliveries out of group order"), ("errors", "errors")):
    a = [row.get(key, 0) for row in rows["normal"]]
    b = [row.get(key, 0) for row in rows["fifo"]]
    ma, mb = statistics.median(a), statistics.median(b)
    ratio = f"x{mb / ma:.2f}; " + " / ".join(f"x{y / x:.2f}" if x else "-" for x, y in zip(a, b)) if ma else ""
    print(f"| {name} | {fmt(ma)}; {' / '.join(fmt(v) for v in a)} | {fmt(mb)}; {' / '.join(fmt(v) for v in b)} | {ratio} |")
PY
