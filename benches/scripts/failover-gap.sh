#!/usr/bin/env bash
# benches/scripts/failover-gap.sh [ROUNDS]
#
# What a leader's crash costs a producer: starts a fast-try group of three
# processes on its own ports and store root, runs `mqbench produce
# --inflight 256`, kills the leader with SIGKILL a few seconds in, and prints
# mqbench's "longest gap between acknowledgements" (the failover gap as the
# application sees it), once per round (default 3). The group is stopped
# and started afresh for each round; everything is stopped on exit.
#
# Environment: RAFTMQ_BIN_DIR (default target/release, built when unset),
# MESSAGES [1000000], KILL_AFTER seconds [3]. A run that ends before the
# kill measures nothing: the script then fails, asking for more MESSAGES.
set -euo pipefail

here=$(CDPATH='' cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(CDPATH='' cd -P "$here/../.." && pwd)
rounds=${1:-3}
messages=${MESSAGES:-1000000}
kill_after=${KILL_AFTER:-3}

if [[ -z ${RAFTMQ_BIN_DIR:-} ]]; then
  (cd "$repo" && cargo build --release --locked --quiet \
    -p raftmq-nameserver -p raftmq-broker -p raftmq-client -p raftmq-benches)
  RAFTMQ_BIN_DIR=$repo/target/release
fi
export RAFTMQ_BIN_DIR
export RAFTMQ_STORE_ROOT=${TMPDIR:-/tmp}/raftmq-failover-gap
export RAFTMQ_NAMESRV_PORT=29976
export RAFTMQ_BROKER_PORTS="29941 29951 29961"
export RAFTMQ_RAFT_PORTS="29942 29952 29962"
namesrv=127.0.0.1:$RAFTMQ_NAMESRV_PORT

stop() { "$repo/bin/dledger/fast-try.sh" stop >/dev/null 2>&1 || true; }
trap stop EXIT

# The pid of the member whose client port the nameserver lists as BID 0.
leader_pid() {
  local addr port member
  addr=$("$RAFTMQ_BIN_DIR/mqadmin" clusterList -n "$namesrv" | awk '$3 == "0" { print $4; exit }')
  port=${addr##*:}
  for member in n0 n1 n2; do
    if grep -qx "listenPort=$port" "$RAFTMQ_STORE_ROOT/fast-try/conf/broker-$member.conf"; then
      cat "$RAFTMQ_STORE_ROOT/fast-try/broker-$member.pid"
      return
    fi
  done
  echo "failover-gap: no member listens on $addr" >&2
  return 1
}

for ((round = 1; round <= rounds; round++)); do
  stop
  rm -rf "$RAFTMQ_STORE_ROOT"
  "$repo/bin/dledger/fast-try.sh" start >/dev/null
  pid=$(leader_pid)
  "$RAFTMQ_BIN_DIR/mqbench" produce --namesrv "$namesrv" --topic Gap --size 1024 \
    --messages "$messages" --inflight 256 >"$RAFTMQ_STORE_ROOT.out" 2>/dev/null &
  bench=$!
  sleep "$kill_after"
  if ! kill -0 "$bench" 2>/dev/null; then
    echo "failover-gap: mqbench finished within ${kill_after}s, before the kill: raise MESSAGES" >&2
    exit 1
  fi
  kill -KILL "$pid"
  wait "$bench"
  printf 'round %d: leader pid %s killed after %ss: %s\n' "$round" "$pid" "$kill_after" \
    "$(grep -E 'longest gap' "$RAFTMQ_STORE_ROOT.out")"
  grep -E '^produce:|^errors' "$RAFTMQ_STORE_ROOT.out" | sed 's/^/  /'
done
