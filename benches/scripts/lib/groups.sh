# benches/scripts/lib/groups.sh: fast-try groups for the benchmark scripts,
# several at once, each on its own ports and store root. Sourced, not run.
#
# The sourcing script sets `work` (a directory) and `repo` (the repository
# root) and exports RAFTMQ_BIN_DIR (mqnamesrv, mqbroker, mqadmin, mqbench),
# then calls `trap stop_all_groups EXIT`.
#
#   new_group NAME      picks 7 free ports; the store root is $work/NAME
#   start_group NAME    a fresh group (its store root emptied first)
#   stop_group NAME     stops what fast-try started for it (and restarts)
#   group_ns NAME       its nameserver, 127.0.0.1:PORT
#   member_pid NAME M   the pid of member M (n0, n1, n2)
#   member_addr NAME M  member M's client address, 127.0.0.1:PORT
#   group_pids NAME     the three brokers' pids, comma-separated
#   leader_member NAME  the member the nameserver lists as BID 0 (n0, n1, n2)
#   restart_member NAME M  runs member M again, as fast-try did; pid file updated
#   rss_kb PID FIELD    FIELD (VmRSS, RssAnon, RssFile) of PID, kB

declare -A group_ports=() group_running=()

say() { printf '[%s %s] %s\n' "${0##*/}" "$(date -u +%H:%M:%S)" "$*" >&2; }

new_group() {
  group_ports[$1]=$(python3 -c '
import socket
held = []
for _ in range(7):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
')
}

# with_group NAME CMD...: runs CMD with group NAME's fast-try environment.
with_group() {
  local name=$1 ns b0 b1 b2 r0 r1 r2
  shift
  read -r ns b0 b1 b2 r0 r1 r2 <<<"${group_ports[$name]}"
  RAFTMQ_STORE_ROOT=$work/$name RAFTMQ_NAMESRV_PORT=$ns \
    RAFTMQ_BROKER_PORTS="$b0 $b1 $b2" RAFTMQ_RAFT_PORTS="$r0 $r1 $r2" "$@"
}

start_group() {
  rm -rf "${work:?}/$1"
  group_running[$1]=1
  with_group "$1" "$repo/bin/dledger/fast-try.sh" start >&2
}

stop_group() {
  if [[ -n ${group_running[$1]:-} ]]; then
    with_group "$1" "$repo/bin/dledger/fast-try.sh" stop >&2 || true
    unset 'group_running[$1]'
  fi
}

stop_all_groups() {
  local name
  for name in "${!group_running[@]}"; do stop_group "$name"; done
}

group_ns() { printf '127.0.0.1:%s\n' "${group_ports[$1]%% *}"; }

member_pid() { head -n 1 "$work/$1/fast-try/broker-$2.pid"; }

member_addr() {
  printf '127.0.0.1:%s\n' "$(sed -n 's/^listenPort=//p' "$work/$1/fast-try/conf/broker-$2.conf")"
}

group_pids() {
  local m out=()
  for m in n0 n1 n2; do out+=("$(member_pid "$1" "$m")"); done
  (IFS=,; echo "${out[*]}")
}

leader_member() {
  local addr m
  addr=$("$RAFTMQ_BIN_DIR/mqadmin" clusterList -n "$(group_ns "$1")" | awk '$3 == "0" { print $4; exit }')
  for m in n0 n1 n2; do
    if [[ $(member_addr "$1" "$m") == "$addr" ]]; then
      echo "$m"
      return
    fi
  done
  say "no member of $1 listens on ${addr:-(no leader listed)}"
  return 1
}

# As fast-try's launch does: its own session, output to its log, the pid
# in the pid file (so fast-try's stop ends it).
restart_member() {
  local name=$1 m=$2 conf log
  conf=$work/$name/fast-try/conf/broker-$m.conf
  log=$work/$name/node0${m#n}/broker.log
  mv -f "$log" "$log.killed"
  setsid nohup "$RAFTMQ_BIN_DIR/mqbroker" -c "$conf" </dev/null >"$log" 2>&1 &
  echo $! >"$work/$name/fast-try/broker-$m.pid"
}

rss_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
