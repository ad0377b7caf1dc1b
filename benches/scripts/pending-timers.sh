#!/usr/bin/env bash
# benches/scripts/pending-timers.sh [WORKDIR]
#
# What 1,000,000 pending timers cost a group (issue 19). Two fresh fast-try
# groups, one after the other, the same command but for --delay-secs:
#   plain:  mqbench produce --messages N --size SIZE --inflight 256
#   timers: the same with --delay-secs DELAY (every message held, due far ahead)
# 1. Memory: each member's VmRSS, RssAnon and RssFile (/proc/PID/status)
#    before the sends and SETTLE seconds after them; timers - plain.
# 2. Recovery: the leader of each group is killed with SIGKILL; once another
#    member leads (brokerStatus role Leader) and its applied index has
#    settled, the killed member is started again (its own binary and conf,
#    as fast-try ran it). Reported, from that start: when its client port
#    first answers `mqadmin brokerStatus`, when its log says "broker
#    started", and when brokerStatus shows it a Follower with a leader and
#    appliedIndex at or past the new leader's (recovered: store open, held
#    index loaded, log replayed, caught up).
# 3. Throughput: mqbench produce of TPUT plain messages at 256 in flight,
#    alternated between the two groups (plain, timers, timers, plain, ...)
#    for ROUNDS rounds; timers/plain.
# Prints one markdown table. Both groups run until the end; everything the
# script starts is stopped on exit.
#
# Environment: RAFTMQ_BIN_DIR (required: mqnamesrv, mqbroker, mqadmin,
# mqbench), MESSAGES [1000000], SIZE [1024], DELAY_SECS [7200],
# SETTLE_SECS [15], TPUT [300000], ROUNDS [3].
set -euo pipefail

here=$(CDPATH='' cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(CDPATH='' cd -P "$here/../.." && pwd)
work=${1:-$(mktemp -d /tmp/pending-timers.XXXXXX)}
messages=${MESSAGES:-1000000}
size=${SIZE:-1024}
delay=${DELAY_SECS:-7200}
settle=${SETTLE_SECS:-15}
tput=${TPUT:-300000}
rounds=${ROUNDS:-3}
: "${RAFTMQ_BIN_DIR:?set RAFTMQ_BIN_DIR to a directory holding mqnamesrv, mqbroker, mqadmin, mqbench}"
export RAFTMQ_BIN_DIR
out=$work/results
mkdir -p "$out"

# shellcheck source=lib/groups.sh
. "$here/lib/groups.sh"
trap stop_all_groups EXIT

now_ms() { date +%s%3N; }

# memory_line NAME: one JSON object of the members' memory, kB.
memory_line() {
  local name=$1 m pid sep='' line='{'
  for m in n0 n1 n2; do
    pid=$(member_pid "$name" "$m")
    line+="$sep\"$m\":{\"VmRSS\":$(rss_kb "$pid" VmRSS),\"RssAnon\":$(rss_kb "$pid" RssAnon),\"RssFile\":$(rss_kb "$pid" RssFile)}"
    sep=,
  done
  echo "$line,\"leader\":\"$(leader_member "$name")\"}"
}

# fill NAME [MQBENCH ARGS...]: a fresh group NAME, N messages into it.
fill() {
  local name=$1
  shift
  new_group "$name"
  start_group "$name"
  memory_line "$name" >"$out/$name-before.json"
  say "$name: $messages messages $*"
  "$RAFTMQ_BIN_DIR/mqbench" produce --namesrv "$(group_ns "$name")" --topic Fill \
    --size "$size" --messages "$messages" --inflight 256 --server-pids "$(group_pids "$name")" \
    --json "$@" | tail -n 1 >"$out/$name-fill.json"
  sleep "$settle"
  memory_line "$name" >"$out/$name-after.json"
}

# status ADDR: "role leader appliedIndex" of a member, or nothing.
status() {
  "$RAFTMQ_BIN_DIR/mqadmin" brokerStatus -b "$1" 2>/dev/null |
    awk '$1 == "role" { r = $3 } $1 == "leader" { l = $3 } $1 == "appliedIndex" { a = $3 }
         END { if (r != "") print r, l, a }' || true
}

# recover NAME: kills the leader, restarts it, times its recovery.
recover() {
  local name=$1 m pid addr other new_leader='' target='' prev='' t0 t_answer='' t_started='' t_done='' now
  local role leader applied deadline log
  m=$(leader_member "$name")
  pid=$(member_pid "$name" "$m")
  addr=$(member_addr "$name" "$m")
  say "$name: SIGKILL to leader $m (pid $pid)"
  kill -KILL "$pid"
  deadline=$(($(now_ms) + 60000))
  while [[ -z $new_leader ]]; do
    (($(now_ms) < deadline)) || { say "$name: no new leader within 60 s"; return 1; }
    for other in n0 n1 n2; do
      [[ $other != "$m" ]] || continue
      read -r role leader applied < <(status "$(member_addr "$name" "$other")"; echo) || true
      [[ ${role:-} == Leader ]] && new_leader=$other
    done
    sleep 0.2
  done
  # The new leader's applied index, once it stops moving (its first entry).
  while :; do
    read -r role leader target < <(status "$(member_addr "$name" "$new_leader")")
    [[ $target != "$prev" ]] || break
    prev=$target
    sleep 1
  done
  log=$work/$name/node0${m#n}/broker.log
  t0=$(now_ms)
  restart_member "$name" "$m"
  deadline=$((t0 + 60000))
  while [[ -z $t_done ]]; do
    now=$(now_ms)
    ((now < deadline)) || { say "$name: $m not recovered within 60 s"; return 1; }
    role='' leader='' applied=''
    read -r role leader applied < <(status "$addr"; echo) || true
    now=$(now_ms)
    [[ -n $t_answer || -z $role ]] || t_answer=$((now - t0))
    [[ -n $t_started ]] || ! grep -q 'broker started' "$log" 2>/dev/null || t_started=$((now - t0))
    if [[ $role == Follower && $leader != none && $applied =~ ^[0-9]+$ ]] && ((applied >= target)); then
      t_done=$((now - t0))
    fi
    sleep 0.01
  done
  printf '{"member":"%s","new_leader":"%s","target_index":%s,"answer_ms":%s,"log_started_ms":%s,"recovered_ms":%s}\n' \
    "$m" "$new_leader" "$target" "${t_answer:-null}" "${t_started:-null}" "$t_done" >"$out/$name-recover.json"
  say "$name: $m recovered in $t_done ms (answered at ${t_answer:-?} ms, log 'broker started' by ${t_started:-?} ms)"
}

tput_run() {
  local name=$1 round=$2
  say "round $round: $name, $tput messages at 256 in flight"
  "$RAFTMQ_BIN_DIR/mqbench" produce --namesrv "$(group_ns "$name")" --topic Tput \
    --size "$size" --messages "$tput" --inflight 256 --server-pids "$(group_pids "$name")" \
    --json | tail -n 1 >"$out/$name-tput-$round.json"
}

fill plain
fill timers --delay-secs "$delay"
recover plain
recover timers
for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then order=(plain timers); else order=(timers plain); fi
  for name in "${order[@]}"; do tput_run "$name" "$r"; done
done

python3 - "$out" "$rounds" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
load = lambda f: json.load(open(f"{out}/{f}.json"))
print("| figure | plain | timers | timers - plain, or timers/plain |")
print("|---|---|---|---|")
fill = {g: load(f"{g}-fill") for g in ("plain", "timers")}
print(f"| fill: msg/s at 256 in flight | {fill['plain']['msgs_per_sec']:,} | {fill['timers']['msgs_per_sec']:,} | x{fill['timers']['msgs_per_sec'] / fill['plain']['msgs_per_sec']:.2f} |")
print(f"| fill: errors | {fill['plain']['errors']} | {fill['timers']['errors']} | |")
mem = {g: (load(f"{g}-before"), load(f"{g}-after")) for g in ("plain", "timers")}
for field in ("VmRSS", "RssAnon", "RssFile"):
    for who in ("leader", "n0", "n1", "n2"):
        vals = {}
        for g in ("plain", "timers"):
            b, a = mem[g]
            m = a["leader"] if who == "leader" else who
            vals[g] = (b[m][field] / 1024, a[m][field] / 1024, m)
        label = f"{field}, leader ({vals['plain'][2]} / {vals['timers'][2]})" if who == "leader" else f"{field}, {who}"
        p, t = vals["plain"], vals["timers"]
        print(f"| {label}: before -> after, MB | {p[0]:.0f} -> {p[1]:.0f} (+{p[1]-p[0]:.0f}) | {t[0]:.0f} -> {t[1]:.0f} (+{t[1]-t[0]:.0f}) | {t[1]-p[1]:+.0f} MB after; growth {(t[1]-t[0])-(p[1]-p[0]):+.0f} MB |")
rec = {g: load(f"{g}-recover") for g in ("plain", "timers")}
for k, name in (("answer_ms", "restart: brokerStatus answers, ms"), ("log_started_ms", "restart: log says broker started, ms"), ("recovered_ms", "restart: Follower, applied >= leader's, ms")):
    print(f"| {name} | {rec['plain'][k]} | {rec['timers'][k]} | |")
tp = {g: [load(f"{g}-tput-{r}")["msgs_per_sec"] for r in range(1, rounds + 1)] for g in ("plain", "timers")}
mp, mt = statistics.median(tp["plain"]), statistics.median(tp["timers"])
ratios = " / ".join(f"x{t / p:.2f}" for p, t in zip(tp["plain"], tp["timers"]))
print(f"| produce msg/s, 256 in flight (median; each) | {mp:,.0f}; {' / '.join(f'{v:,}' for v in tp['plain'])} | {mt:,.0f}; {' / '.join(f'{v:,}' for v in tp['timers'])} | x{mt / mp:.2f} (rounds: {ratios}) |")
PY
