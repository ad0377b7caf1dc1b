#!/usr/bin/env bash
# benches/scripts/nats-cluster.sh start|stop DIR
#
# `start` runs a 3-node NATS JetStream cluster on loopback for peerbench:
# nodes n1 n2 n3, each with a client port, a cluster (route) port and a
# monitoring port chosen free at start, full-mesh routes between the three,
# JetStream enabled with file storage under DIR/nX/jetstream. It returns once
# every node answers /healthz (JetStream meta leader elected) and prints
#   urls nats://127.0.0.1:P1,nats://127.0.0.1:P2,nats://127.0.0.1:P3
#   pids PID1,PID2,PID3
# `stop` ends exactly the processes `start` started (SIGTERM, SIGKILL after
# 10 s) and deletes their JetStream data; the logs stay.
#
# Needs nats-server (Debian: `apt-get install -y nats-server`; bookworm has
# 2.9.10, which clusters JetStream) and curl.
#
# Files:
#   DIR/pids         PID1,PID2,PID3 (as peerbench --server-pids wants them)
#   DIR/urls         the client URLs, comma-separated (peerbench --servers)
#   DIR/nX.conf      the configuration of node nX
#   DIR/nX.log       its log
#   DIR/nX/jetstream its JetStream store
#
# Environment: NATS_SERVER (default: nats-server on PATH),
# NATS_START_TIMEOUT (seconds, default 30).
set -euo pipefail

readonly nodes=(n1 n2 n3)
readonly stop_grace_seconds=10

usage() {
  echo "usage: ${0##*/} start|stop DIR" >&2
  exit 2
}

die() {
  echo "${0##*/}: $*" >&2
  exit 1
}

# A TCP port no socket uses, not in $taken_ports, below the kernel's
# ephemeral range (the local ports of outgoing connections, the nodes' own
# routes among them: a port picked there could be taken by one between the
# probe and nats-server's bind, which failed 2 side-by-side runs in 14).
# Probed, not reserved: another process could still take it first (start
# then fails and says so).
taken_ports=" "
ephemeral_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
((ephemeral_low > 21000)) || ephemeral_low=32768
free_port() {
  local port tries
  for ((tries = 0; tries < 200; tries++)); do
    port=$((20000 + RANDOM % (ephemeral_low - 20000)))
    [[ $taken_ports == *" $port "* ]] && continue
    if [[ -z $(ss -Htan "sport = :$port" 2>/dev/null) ]]; then
      taken_ports+="$port "
      echo "$port"
      return 0
    fi
  done
  die "no free port found"
}

alive() {
  kill -0 "$1" 2>/dev/null
}

start() {
  local dir=$1 server=${NATS_SERVER:-nats-server} timeout=${NATS_START_TIMEOUT:-30}
  command -v "$server" >/dev/null || die "$server not found (apt-get install -y nats-server)"
  command -v curl >/dev/null || die "curl not found"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [[ -s $dir/pids ]]; then
    local pid old
    IFS=, read -r -a old <"$dir/pids"
    for pid in "${old[@]}"; do
      alive "$pid" && die "a cluster from $dir/pids is still running (pid $pid): stop it first"
    done
  fi

  local -a client=() route=() http=()
  local i
  for i in 0 1 2; do
    client[i]=$(free_port)
    route[i]=$(free_port)
    http[i]=$(free_port)
  done
  local routes="nats-route://127.0.0.1:${route[0]}, nats-route://127.0.0.1:${route[1]}, nats-route://127.0.0.1:${route[2]}"

  local -a pids=()
  local node
  for i in 0 1 2; do
    node=${nodes[i]}
    rm -rf "${dir:?}/$node"
    mkdir -p "$dir/$node/jetstream"
    cat >"$dir/$node.conf" <<EOF
# written by ${0##*/}
server_name: $node
listen: 127.0.0.1:${client[i]}
http: 127.0.0.1:${http[i]}
jetstream {
  store_dir: "$dir/$node/jetstream"
  max_memory_store: 256MB
  max_file_store: 20GB
}
cluster {
  name: peerbench
  listen: 127.0.0.1:${route[i]}
  routes: [ $routes ]
}
EOF
    [[ -f $dir/$node.log ]] && mv -f "$dir/$node.log" "$dir/$node.log.1"
    "$server" -c "$dir/$node.conf" -l "$dir/$node.log" </dev/null >/dev/null 2>&1 &
    pids[i]=$!
  done
  (
    IFS=,
    echo "${pids[*]}" >"$dir/pids"
  )
  echo "nats://127.0.0.1:${client[0]},nats://127.0.0.1:${client[1]},nats://127.0.0.1:${client[2]}" >"$dir/urls"

  # Ready when every node's /healthz answers ok: JetStream enabled and the
  # meta group has a leader this node is current with.
  local deadline=$((SECONDS + timeout)) ready
  while :; do
    ready=0
    for i in 0 1 2; do
      alive "${pids[i]}" || {
        stop "$dir"
        die "${nodes[i]} exited at start: see $dir/${nodes[i]}.log"
      }
      if curl -fs --max-time 2 "http://127.0.0.1:${http[i]}/healthz" >/dev/null 2>&1; then
        ready=$((ready + 1))
      fi
    done
    ((ready == 3)) && break
    if ((SECONDS >= deadline)); then
      stop "$dir"
      die "cluster not healthy after ${timeout}s: see $dir/n*.log"
    fi
    sleep 0.2
  done
  echo "urls $(cat "$dir/urls")"
  echo "pids $(cat "$dir/pids")"
}

stop() {
  local dir=$1
  [[ -s $dir/pids ]] || {
    echo "${0##*/}: no $dir/pids: nothing to stop" >&2
    return 0
  }
  local -a pids=()
  IFS=, read -r -a pids <"$dir/pids"
  local pid tries
  for pid in "${pids[@]}"; do
    if alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for ((tries = 0; tries < stop_grace_seconds * 10; tries++)); do
    local any=0
    for pid in "${pids[@]}"; do
      alive "$pid" && any=1
    done
    ((any == 0)) && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if alive "$pid"; then
      echo "${0##*/}: pid $pid still running after ${stop_grace_seconds}s: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  rm -f "$dir/pids"
  local node
  for node in "${nodes[@]}"; do
    rm -rf "${dir:?}/$node/jetstream"
  done
}

[[ $# -eq 2 ]] || usage
case $1 in
  start) start "$2" ;;
  stop) stop "$2" ;;
  *) usage ;;
esac
