#!/usr/bin/env bash
# benches/scripts/ab.sh OLD_BIN_DIR NEW_BIN_DIR [ROUNDS] [WORKDIR]
#
# Two builds of raftmq, alternated in one run on this machine: each round
# runs OLD then NEW (NEW then OLD on even rounds), each on a fresh fast-try
# group of three processes started from that build's binaries (mqnamesrv,
# mqbroker, mqadmin, mqbench, all from the same directory, so the SDK is
# that build's too):
#   1 in flight:   mqbench produce --size 1024 --messages N_1 --inflight 1
#   256 in flight: a new group, mqbench produce --messages N_256 --inflight 256,
#                  then mqbench consume of those messages (the drain).
# Prints one markdown table (medians over the rounds, and every run) with
# NEW/OLD ratios. Everything it starts is stopped on exit.
#
# Environment: N_1 [5000], N_256 [300000], SIZE [1024].
set -euo pipefail

old=${1:?usage: ab.sh OLD_BIN_DIR NEW_BIN_DIR [ROUNDS] [WORKDIR]}
new=${2:?usage: ab.sh OLD_BIN_DIR NEW_BIN_DIR [ROUNDS] [WORKDIR]}
rounds=${3:-3}
work=${4:-$(mktemp -d /tmp/ab.XXXXXX)}
n_1=${N_1:-5000}
n_256=${N_256:-300000}
size=${SIZE:-1024}
here=$(CDPATH='' cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(CDPATH='' cd -P "$here/../.." && pwd)
for d in "$old" "$new"; do
  for b in mqnamesrv mqbroker mqadmin mqbench; do
    [[ -x $d/$b ]] || { echo "ab.sh: $d/$b is not an executable" >&2; exit 2; }
  done
done
mkdir -p "$work/results"

say() { printf '[ab %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

running=
stop_group() {
  if [[ -n $running ]]; then
    RAFTMQ_STORE_ROOT=$work/store "$repo/bin/dledger/fast-try.sh" stop >&2 || true
    running=
  fi
}
trap stop_group EXIT

read -r ns b0 b1 b2 r0 r1 r2 < <(python3 -c '
import socket
held = []
for _ in range(7):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
')
export RAFTMQ_STORE_ROOT=$work/store RAFTMQ_NAMESRV_PORT=$ns
export RAFTMQ_BROKER_PORTS="$b0 $b1 $b2" RAFTMQ_RAFT_PORTS="$r0 $r1 $r2"

# start_group DIR: a fresh group from DIR's binaries; sets `pids` to the
# brokers' pids (comma-separated).
pids=
start_group() {
  rm -rf "$work/store"
  running=1
  RAFTMQ_BIN_DIR=$1 "$repo/bin/dledger/fast-try.sh" start >&2
  pids=$(cat "$work/store"/fast-try/broker-n{0,1,2}.pid | paste -sd,)
}

# one LABEL DIR ROUND: the three runs of one build.
one() {
  local label=$1 dir=$2 round=$3 out=$work/results
  start_group "$dir"
  "$dir/mqbench" produce --namesrv "127.0.0.1:$ns" --topic AbOne --size "$size" \
    --messages "$n_1" --inflight 1 --server-pids "$pids" --json | tail -n 1 >"$out/$label-1-$round.json"
  stop_group
  start_group "$dir"
  "$dir/mqbench" produce --namesrv "127.0.0.1:$ns" --topic Ab --size "$size" \
    --messages "$n_256" --inflight 256 --server-pids "$pids" --json | tail -n 1 >"$out/$label-256-$round.json"
  "$dir/mqbench" consume --namesrv "127.0.0.1:$ns" --topic Ab --group AbDrain \
    --messages "$n_256" --server-pids "$pids" --json | tail -n 1 >"$out/$label-drain-$round.json"
  stop_group
}

for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then order=(old new); else order=(new old); fi
  for label in "${order[@]}"; do
    dir=$old
    [[ $label == new ]] && dir=$new
    say "round $r: $label ($dir)"
    one "$label" "$dir" "$r"
  done
done

python3 - "$work/results" "$rounds" <<'PY'
import json, statistics, sys
results, rounds = sys.argv[1], int(sys.argv[2])
def load(label, run):
    out = []
    for r in range(1, rounds + 1):
        with open(f"{results}/{label}-{run}-{r}.json") as f:
            out.append(json.load(f))
    return out
def pick(rows, key):
    return [row.get(key) for row in rows if row.get(key) is not None]
print("| run | figure | old (median; each) | new (median; each) | new/old |")
print("|---|---|---|---|---|")
for run, figures in [("1 in flight", [("p50_us", "p50 us"), ("p99_us", "p99 us"), ("server_cpu_us_per_msg", "broker CPU us/msg")]),
                     ("256 in flight", [("msgs_per_sec", "msg/s"), ("p50_us", "p50 us"), ("p99_us", "p99 us"), ("server_cpu_us_per_msg", "broker CPU us/msg")]),
                     ("drain", [("msgs_per_sec", "msg/s"), ("server_cpu_us_per_msg", "broker CPU us/msg")])]:
    key = {"1 in flight": "1", "256 in flight": "256", "drain": "drain"}[run]
    o, n = load("old", key), load("new", key)
    for field, name in figures:
        ov, nv = pick(o, field), pick(n, field)
        if not ov or not nv:
            continue
        om, nm = statistics.median(ov), statistics.median(nv)
        fmt = lambda v: f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
        print(f"| {run} | {name} | {fmt(om)}; {' / '.join(fmt(v) for v in ov)} | {fmt(nm)}; {' / '.join(fmt(v) for v in nv)} | x{nm / om:.2f} |")
PY
