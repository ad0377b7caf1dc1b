#!/usr/bin/env bash
# benches/scripts/side-by-side.sh [WORKDIR]
#
# raftmq's figures next to its peers', measured in the same run on this
# machine, one system at a time (each has the 2 cores to itself):
#   1. NATS JetStream, 3 nodes (nats-cluster.sh), a 3-replica file stream:
#      publishes awaited for their PubAck with 1 and 256 in flight, then
#      drains of the backlog with a pull consumer (each message acked, then
#      once more with one ack per batch of 500);
#   2. the gRPC ceiling: `peerbench grpc-server` (a do-nothing MessagingService
#      in its own process) and `peerbench grpc-ceiling`, one message per
#      SendMessage call, 256 and 1 in flight;
#   3. raftmq: a fast-try group of three processes, driven by mqbench (the Rust SDK),
#      and by `peerbench grpc-ceiling` pointed at its leader (one message per
#      SendMessage call, as the official clients send).
# Then prints one markdown table, and ratios once raftmq's rows exist.
#
# Everything it starts is stopped on exit (trap), also on failure or Ctrl-C.
# Output of each run: WORKDIR/results/NAME.out (the last line is its JSON).
# WORKDIR defaults to a new /tmp/side-by-side.XXXXXX.
#
# Environment (defaults in brackets):
#   SIZE [1024]          message body bytes
#   N_256 [300000]       messages of the 256-in-flight runs (the NATS one also
#                        fills the backlog the drain reads)
#   N_1 [5000]           messages of the 1-in-flight runs
#   N_DRAIN [300000]     messages the NATS drain reads (at most the backlog)
#   DURATION []          seconds: also stop each publishing run after this long
#   CLIENT_THREADS [1]   worker threads of every load client (peerbench for
#                        NATS and the gRPC ceiling, mqbench for raftmq): the
#                        same for all, so no system's client gets more cores
#   PEERBENCH_NO_BUILD   set: use target/release/peerbench as it is
set -euo pipefail

here=$(CDPATH='' cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(CDPATH='' cd -P "$here/../.." && pwd)

size=${SIZE:-1024}
n_256=${N_256:-300000}
n_1=${N_1:-5000}
n_drain=${N_DRAIN:-300000}
client_threads=${CLIENT_THREADS:-1}
duration_args=()
if [[ -n ${DURATION:-} ]]; then
  duration_args=(--duration "$DURATION")
fi

work=${1:-$(mktemp -d /tmp/side-by-side.XXXXXX)}
mkdir -p "$work/results"
work=$(CDPATH='' cd -P "$work" && pwd)
results=$work/results
nats_dir=$work/nats
peerbench=$repo/target/release/peerbench

say() { printf '\n== %s\n' "$*" >&2; }

# ---- teardown -----------------------------------------------------------------

grpc_pid=""
# SIGTERM to the grpc-server, SIGKILL after 10 s.
stop_grpc_server() {
  local tries
  kill -TERM "$grpc_pid" 2>/dev/null || true
  for ((tries = 0; tries < 100; tries++)); do
    kill -0 "$grpc_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$grpc_pid" 2>/dev/null || true
  wait "$grpc_pid" 2>/dev/null || true
  grpc_pid=""
}

cleanup() {
  local status=$?
  set +e
  if [[ -n $grpc_pid ]]; then
    stop_grpc_server
  fi
  if [[ -s $nats_dir/pids ]]; then
    "$here/nats-cluster.sh" stop "$nats_dir"
  fi
  if [[ -n ${raftmq_started:-} ]]; then
    RAFTMQ_STORE_ROOT=$work/raftmq "$repo/bin/dledger/fast-try.sh" stop >&2 || true
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run NAME COMMAND...: runs COMMAND, its stdout shown and kept in results/NAME.out.
run() {
  local name=$1
  shift
  say "$name: $*"
  "$@" | tee "$results/$name.out"
}

# ---- build and describe -------------------------------------------------------

if [[ -z ${PEERBENCH_NO_BUILD:-} ]]; then
  say "building peerbench (release)"
  (cd "$repo" && cargo build --release -p raftmq-benches --bin peerbench)
fi
[[ -x $peerbench ]] || {
  echo "side-by-side: $peerbench missing" >&2
  exit 1
}
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cores: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel: $(uname -r)"
  echo "commit: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nats-server --version 2>/dev/null || echo "nats-server: missing"
  echo "size: $size B, N_256=$n_256, N_1=$n_1, N_DRAIN=$n_drain${DURATION:+, DURATION=$DURATION s}"
} | tee "$results/machine.txt" >&2

# ---- 1. NATS JetStream --------------------------------------------------------

say "starting a 3-node NATS JetStream cluster under $nats_dir"
"$here/nats-cluster.sh" start "$nats_dir" >&2
nats_urls=$(cat "$nats_dir/urls")
nats_pids=$(cat "$nats_dir/pids")

run nats-1 "$peerbench" --threads "$client_threads" nats --servers "$nats_urls" --size "$size" \
  --messages "$n_1" --inflight 1 "${duration_args[@]}" --server-pids "$nats_pids" --json
run nats-256 "$peerbench" --threads "$client_threads" nats --servers "$nats_urls" --size "$size" \
  --messages "$n_256" --inflight 256 "${duration_args[@]}" --server-pids "$nats_pids" --json
run nats-drain "$peerbench" --threads "$client_threads" nats-drain --servers "$nats_urls" \
  --messages "$n_drain" --ack each --server-pids "$nats_pids" --json
# The same backlog again (a new consumer from the start), acknowledged
# cumulatively, as a consumer committing an offset per batch does.
run nats-drain-ackall "$peerbench" --threads "$client_threads" nats-drain --servers "$nats_urls" \
  --messages "$n_drain" --ack all --server-pids "$nats_pids" --json

say "stopping NATS"
"$here/nats-cluster.sh" stop "$nats_dir"

# ---- 2. the gRPC ceiling ------------------------------------------------------

say "starting peerbench grpc-server"
: >"$work/grpc-server.out"
"$peerbench" grpc-server --port 0 >"$work/grpc-server.out" 2>"$work/grpc-server.log" &
grpc_pid=$!
grpc_addr=""
for _ in $(seq 100); do
  grpc_addr=$(awk '/^listening /{print $2; exit}' "$work/grpc-server.out" || true)
  [[ -n $grpc_addr ]] && break
  kill -0 "$grpc_pid" 2>/dev/null || {
    echo "side-by-side: grpc-server exited: see $work/grpc-server.log" >&2
    exit 1
  }
  sleep 0.1
done
[[ -n $grpc_addr ]] || {
  echo "side-by-side: grpc-server did not start listening" >&2
  exit 1
}

run grpc-ceiling-256 "$peerbench" --threads "$client_threads" grpc-ceiling --addr "$grpc_addr" --size "$size" \
  --messages "$n_256" --inflight 256 "${duration_args[@]}" --server-pids "$grpc_pid" --json
run grpc-ceiling-1 "$peerbench" --threads "$client_threads" grpc-ceiling --addr "$grpc_addr" --size "$size" \
  --messages "$n_1" --inflight 1 "${duration_args[@]}" --server-pids "$grpc_pid" --json

say "stopping grpc-server"
stop_grpc_server

# ---- 3. raftmq ----------------------------------------------------------------
# N distinct ports nobody listens on now (the kernel picks them). All are
# held open until all are picked: asked one at a time, the kernel may hand
# out the same port twice.
free_ports() {
  python3 -c '
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
' "$1"
}

if [[ -z ${PEERBENCH_NO_BUILD:-} ]]; then
  say "building raftmq (release): mqnamesrv, mqbroker, mqadmin, mqbench"
  (cd "$repo" && cargo build --release -p raftmq-nameserver -p raftmq-broker \
    -p raftmq-client -p raftmq-benches --bin mqnamesrv --bin mqbroker --bin mqadmin --bin mqbench)
fi
read -r ns_port b0 b1 b2 r0 r1 r2 <<<"$(free_ports 7)"
export RAFTMQ_BIN_DIR=$repo/target/release RAFTMQ_STORE_ROOT=$work/raftmq
export RAFTMQ_NAMESRV_PORT=$ns_port
RAFTMQ_BROKER_PORTS="$b0 $b1 $b2"
RAFTMQ_RAFT_PORTS="$r0 $r1 $r2"
export RAFTMQ_BROKER_PORTS RAFTMQ_RAFT_PORTS
say "starting raftmq: a nameserver and group RaftNode00 under $RAFTMQ_STORE_ROOT"
"$repo/bin/dledger/fast-try.sh" start >&2
raftmq_started=1
raftmq_pids=$(cat "$RAFTMQ_STORE_ROOT"/fast-try/broker-n{0,1,2}.pid | paste -sd,)
mqbench=$repo/target/release/mqbench
run raftmq-1 "$mqbench" produce --namesrv "127.0.0.1:$ns_port" --topic PeerBench1 \
  --size "$size" --messages "$n_1" --inflight 1 --threads "$client_threads" --server-pids "$raftmq_pids" --json
# The official clients' wire path: one message per SendMessage call, straight
# to the leader (where a client's route sends it), as against the gRPC ceiling;
# on the fresh group, as the ceiling ran on a fresh server.
leader=$("$repo/target/release/mqadmin" clusterList -n "127.0.0.1:$ns_port" | awk '$3 == "0" { print $4; exit }')
if [[ -z $leader ]]; then
  echo "side-by-side: raftmq: no leader (BID 0) in mqadmin clusterList" >&2
  exit 1
fi
run raftmq-wire-256 "$peerbench" --threads "$client_threads" grpc-ceiling --addr "$leader" --size "$size" \
  --messages "$n_256" --inflight 256 "${duration_args[@]}" --server-pids "$raftmq_pids" --json
# A fresh group for the backlog runs: the runs above leave gigabytes of
# commitlog being written back to disk, which the NATS runs did not have.
say "restarting raftmq with an empty store"
"$repo/bin/dledger/fast-try.sh" stop >&2
rm -rf "$RAFTMQ_STORE_ROOT"
"$repo/bin/dledger/fast-try.sh" start >&2
raftmq_pids=$(cat "$RAFTMQ_STORE_ROOT"/fast-try/broker-n{0,1,2}.pid | paste -sd,)
run raftmq-256 "$mqbench" produce --namesrv "127.0.0.1:$ns_port" --topic PeerBench \
  --size "$size" --messages "$n_256" --inflight 256 --threads "$client_threads" --server-pids "$raftmq_pids" --json
run raftmq-drain "$mqbench" consume --namesrv "127.0.0.1:$ns_port" --topic PeerBench \
  --group PeerBenchDrain --messages "$n_drain" --threads "$client_threads" --server-pids "$raftmq_pids" --json
say "stopping raftmq"
"$repo/bin/dledger/fast-try.sh" stop >&2
raftmq_started=

# ---- table --------------------------------------------------------------------

rows=()
for name in raftmq-1 nats-1 grpc-ceiling-1 raftmq-256 nats-256 grpc-ceiling-256 raftmq-wire-256 raftmq-drain nats-drain nats-drain-ackall; do
  if [[ -s $results/$name.out ]]; then
    rows+=("$name=$results/$name.out")
  fi
done
ratios=()
for pair in raftmq-1:nats-1 raftmq-256:nats-256 raftmq-256:grpc-ceiling-256 raftmq-wire-256:grpc-ceiling-256 raftmq-drain:nats-drain raftmq-drain:nats-drain-ackall; do
  a=${pair%%:*}
  b=${pair#*:}
  if [[ -s $results/$a.out && -s $results/$b.out ]]; then
    ratios+=(--ratio "$pair")
  fi
done

say "results (also in $results)"
cat "$results/machine.txt"
echo
"$peerbench" table "${ratios[@]}" "${rows[@]}" | tee "$results/table.md"
