#!/usr/bin/env bash
# benches/scripts/transactions.sh [ROUNDS] [WORKDIR]
#
# Transactional produce against normal produce (issue 19), alternated in one
# run on one fast-try group: each round runs
#   mqbench produce --messages N_PLAIN --inflight 256
#   mqbench produce --transactional --messages N_TX --inflight W_TX
# (each message in a transaction of its own: begin, send, commit), plain
# first on odd rounds and transactional first on even ones. Prints a
# markdown table with the medians, every run, and transactional/plain.
# Everything it starts is stopped on exit.
#
# Environment: RAFTMQ_BIN_DIR (required), N_PLAIN [300000], N_TX [100000],
# W_TX [256], SIZE [1024].
set -euo pipefail

here=$(CDPATH='' cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(CDPATH='' cd -P "$here/../.." && pwd)
rounds=${1:-3}
work=${2:-$(mktemp -d /tmp/transactions.XXXXXX)}
n_plain=${N_PLAIN:-300000}
n_tx=${N_TX:-100000}
w_tx=${W_TX:-256}
size=${SIZE:-1024}
: "${RAFTMQ_BIN_DIR:?set RAFTMQ_BIN_DIR to a directory holding mqnamesrv, mqbroker, mqadmin, mqbench}"
export RAFTMQ_BIN_DIR
out=$work/results
mkdir -p "$out"

# shellcheck source=lib/groups.sh
. "$here/lib/groups.sh"
trap stop_all_groups EXIT

new_group tx
start_group tx
pids=$(group_pids tx)
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then order=(plain tx); else order=(tx plain); fi
  for kind in "${order[@]}"; do
    say "round $r: $kind"
    if [[ $kind == plain ]]; then
      args=(--topic Plain --messages "$n_plain" --inflight 256)
    else
      args=(--topic Tx --messages "$n_tx" --inflight "$w_tx" --transactional)
    fi
    "$RAFTMQ_BIN_DIR/mqbench" produce --namesrv "$(group_ns tx)" --size "$size" \
      --server-pids "$pids" --json "${args[@]}" | tail -n 1 >"$out/$kind-$r.json"
  done
done

python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
rows = {k: [json.load(open(f"{out}/{k}-{r}.json")) for r in range(1, rounds + 1)] for k in ("plain", "tx")}
fmt = lambda v: f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
print("| figure | plain, 256 in flight (median; each) | transactional (median; each) | tx/plain (median; each round) |")
print("|---|---|---|---|")
for key, name in (("msgs_per_sec", "msg/s"), ("p50_us", "p50 us"), ("p99_us", "p99 us"), ("server_cpu_us_per_msg", "broker CPU us/msg"), ("errors", "errors")):
    p = [row.get(key, 0) for row in rows["plain"]]
    t = [row.get(key, 0) for row in rows["tx"]]
    mp, mt = statistics.median(p), statistics.median(t)
    ratio = f"x{mt / mp:.2f}; " + " / ".join(f"x{b / a:.2f}" for a, b in zip(p, t)) if mp else ""
    print(f"| {name} | {fmt(mp)}; {' / '.join(fmt(v) for v in p)} | {fmt(mt)}; {' / '.join(fmt(v) for v in t)} | {ratio} |")
PY
