#!/usr/bin/env bash
# bin/dledger/fast-try.sh start|stop
#
# `start` runs one nameserver (conf/namesrv.conf) and the three brokers of Raft
# group RaftNode00 (conf/dledger/broker-n0.conf, -n1, -n2) in the background,
# and returns once `mqadmin clusterList` shows the group's leader (BID 0).
# `stop` ends exactly the processes `start` started: SIGTERM, then SIGKILL
# after 10 s.
#
# Environment, mainly for tests. Unset or empty: the conf files are copied as
# they are (so the stock values below apply), but for serverWorkerThreads (see
# RAFTMQ_WORKER_THREADS). Set: the copies get the value.
#   RAFTMQ_STORE_ROOT     default /tmp/rmqstore. Holds pid files, logs and the
#                         conf files used. Set: broker nX gets
#                         storePathRootDir=$RAFTMQ_STORE_ROOT/node0X and
#                         storePathCommitLog=$RAFTMQ_STORE_ROOT/node0X/commitlog.
#   RAFTMQ_NAMESRV_PORT   default 9876. Set: the nameserver's listenPort, and
#                         namesrvAddr=127.0.0.1:PORT for the three brokers.
#   RAFTMQ_BROKER_PORTS   default "30911 30921 30931": listenPort of n0 n1 n2.
#   RAFTMQ_RAFT_PORTS     default "40911 40912 40913". Set: every broker gets
#                         dLegerPeers=n0-127.0.0.1:P0;n1-127.0.0.1:P1;n2-127.0.0.1:P2.
#   RAFTMQ_FLUSH_DISK_TYPE  unset: the conf files' flushDiskType (stock:
#                         ASYNC_FLUSH). Set (SYNC_FLUSH or ASYNC_FLUSH): every
#                         broker gets flushDiskType=VALUE.
#   RAFTMQ_DISK_SPACE_WARNING_LEVEL_RATIO  unset: the conf files' value (stock:
#                         90). Set (1 to 100): every broker gets
#                         diskSpaceWarningLevelRatio=VALUE, the used percent of
#                         the commitlog's disk at which sends are refused.
#   RAFTMQ_WORKER_THREADS default: the machine's cores divided among the three
#                         brokers (at least 1), unless the conf file sets
#                         serverWorkerThreads. Set: every broker gets
#                         serverWorkerThreads=VALUE.
#   RAFTMQ_START_TIMEOUT  default 60: seconds `start` waits for a leader. The
#                         clock starts after the build, when the first process
#                         is launched.
#   RAFTMQ_BIN_DIR        run the binaries from this directory instead of
#                         building them (bin/lib/launcher.sh).
# `stop` needs the same RAFTMQ_STORE_ROOT as `start`; it ignores the others.
#
# Files, with ROOT=$RAFTMQ_STORE_ROOT:
#   ROOT/fast-try/conf/{namesrv,broker-n0,broker-n1,broker-n2}.conf  conf files used
#   ROOT/fast-try/{namesrv,broker-n0,broker-n1,broker-n2}.pid        pid files
#   ROOT/namesrv/namesrv.log, ROOT/node0X/broker.log   logs (the previous
#                                                      run's kept as *.log.1)
set -euo pipefail
set +m # background children stay in this process group: setsid then need not fork

# The repository root, from this script's own location (symlinks followed).
self=${BASH_SOURCE[0]}
while [[ -L $self ]]; do
  link=$(readlink "$self")
  [[ $link == /* ]] || link=$(dirname "$self")/$link
  self=$link
done
raftmq_home=$(CDPATH='' cd -P "$(dirname "$self")/../.." && pwd)

# shellcheck source-path=SCRIPTDIR source=../lib/launcher.sh
. "$raftmq_home/bin/lib/launcher.sh"

readonly members=(n0 n1 n2)
readonly stop_grace_seconds=10

usage() {
  cat >&2 <<EOF
usage: ${0##*/} start|stop

  start  run a nameserver and Raft group RaftNode00 (conf/namesrv.conf,
         conf/dledger/broker-n{0,1,2}.conf) in the background and wait for
         its leader
  stop   stop what start started

Environment overrides are described at the top of $self.
EOF
  exit 2
}

say() { printf 'fast-try: %s\n' "$*"; }

# Milliseconds since the epoch.
now_ms() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then
    local t=${EPOCHREALTIME/[.,]/}
    printf '%s\n' "${t:0:${#t}-3}"
  else
    date +%s%3N
  fi
}

# ---- settings ---------------------------------------------------------------

# check_port NAME VALUE: exits 2 unless VALUE is a TCP port.
check_port() {
  if ! [[ $2 =~ ^[0-9]{1,5}$ ]] || ((10#$2 < 1 || 10#$2 > 65535)); then
    printf 'fast-try: %s: %q is not a port (1-65535)\n' "$1" "$2" >&2
    exit 2
  fi
}

# split_ports NAME VALUE: checks VALUE holds three ports and prints them one a line.
split_ports() {
  local -a ports
  read -r -a ports <<<"$2"
  ((${#ports[@]} == 3)) || {
    printf 'fast-try: %s must hold three ports separated by spaces (n0 n1 n2), not %q\n' "$1" "$2" >&2
    exit 2
  }
  local port
  for port in "${ports[@]}"; do
    check_port "$1" "$port"
    printf '%s\n' "$((10#$port))"
  done
}

read_store_root() {
  store_root=${RAFTMQ_STORE_ROOT:-/tmp/rmqstore}
  [[ $store_root == /* ]] || store_root=$PWD/$store_root
  store_root=${store_root%/}
  [[ -n $store_root ]] || {
    echo 'fast-try: RAFTMQ_STORE_ROOT must not be /' >&2
    exit 2
  }
  run_dir=$store_root/fast-try
  conf_dir=$run_dir/conf
}

read_start_settings() {
  namesrv_port_override=${RAFTMQ_NAMESRV_PORT:-}
  if [[ -n $namesrv_port_override ]]; then
    check_port RAFTMQ_NAMESRV_PORT "$namesrv_port_override"
    namesrv_port_override=$((10#$namesrv_port_override))
  fi
  broker_port_overrides=()
  if [[ -n ${RAFTMQ_BROKER_PORTS:-} ]]; then
    mapfile -t broker_port_overrides < <(split_ports RAFTMQ_BROKER_PORTS "$RAFTMQ_BROKER_PORTS")
    ((${#broker_port_overrides[@]} == 3)) || exit 2
  fi
  raft_port_overrides=()
  if [[ -n ${RAFTMQ_RAFT_PORTS:-} ]]; then
    mapfile -t raft_port_overrides < <(split_ports RAFTMQ_RAFT_PORTS "$RAFTMQ_RAFT_PORTS")
    ((${#raft_port_overrides[@]} == 3)) || exit 2
  fi
  flush_override=${RAFTMQ_FLUSH_DISK_TYPE:-}
  case $flush_override in
    '' | SYNC_FLUSH | ASYNC_FLUSH) ;;
    *)
      printf 'fast-try: RAFTMQ_FLUSH_DISK_TYPE: %q is neither SYNC_FLUSH nor ASYNC_FLUSH\n' "$flush_override" >&2
      exit 2
      ;;
  esac
  disk_ratio_override=${RAFTMQ_DISK_SPACE_WARNING_LEVEL_RATIO:-}
  if [[ -n $disk_ratio_override ]] && ! { [[ $disk_ratio_override =~ ^[1-9][0-9]{0,2}$ ]] && ((disk_ratio_override <= 100)); }; then
    printf 'fast-try: RAFTMQ_DISK_SPACE_WARNING_LEVEL_RATIO: %q is not a percentage (1 to 100)\n' "$disk_ratio_override" >&2
    exit 2
  fi
  threads_override=${RAFTMQ_WORKER_THREADS:-}
  if [[ -n $threads_override ]] && ! { [[ $threads_override =~ ^[1-9][0-9]{0,3}$ ]] && ((threads_override <= 1024)); }; then
    printf 'fast-try: RAFTMQ_WORKER_THREADS: %q is not a number of threads (1 to 1024)\n' "$threads_override" >&2
    exit 2
  fi
  local cores
  cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 3)
  [[ $cores =~ ^[0-9]+$ ]] || cores=3
  threads_share=$((cores / ${#members[@]}))
  ((threads_share >= 1)) || threads_share=1
  start_timeout=${RAFTMQ_START_TIMEOUT:-60}
  if ! [[ $start_timeout =~ ^[0-9]{1,6}$ ]] || ((10#$start_timeout == 0)); then
    printf 'fast-try: RAFTMQ_START_TIMEOUT: %q is not a whole number of seconds above 0\n' "$start_timeout" >&2
    exit 2
  fi
  start_timeout=$((10#$start_timeout))
}

# ---- conf files -------------------------------------------------------------

# conf_value FILE KEY: the value of KEY in a properties file (the last line
# setting it wins; a trailing ` # comment` is dropped), or nothing.
conf_value() {
  awk -v want="$2" '
    /^[ \t]*[#!]/ { next }
    {
      line = $0
      if (!match(line, /^[ \t]*[^ \t=:]+[ \t]*[=:]/)) next
      key = substr(line, 1, RLENGTH - 1)
      gsub(/[ \t]/, "", key)
      if (key != want) next
      value = substr(line, RLENGTH + 1)
      sub(/^[ \t]+/, "", value); sub(/[ \t]+#.*$/, "", value); sub(/[ \t]+$/, "", value)
      found = value; seen = 1
    }
    END { if (seen) print found }
  ' "$1"
}

# rewrite_conf SRC DST [KEY=VALUE ...]: copies a properties file, setting each
# KEY to VALUE. A line whose value already equals VALUE is kept byte for byte,
# so with no changes DST equals SRC; a key SRC lacks is appended.
rewrite_conf() {
  local src=$1 dst=$2
  shift 2
  local overrides=''
  local pair
  for pair in "$@"; do overrides+=$pair$'\n'; done
  RAFTMQ_OVERRIDES=$overrides awk '
    BEGIN {
      n = split(ENVIRON["RAFTMQ_OVERRIDES"], pairs, "\n")
      for (i = 1; i <= n; i++) {
        if (pairs[i] == "") continue
        eq = index(pairs[i], "=")
        k = substr(pairs[i], 1, eq - 1)
        if (!(k in want)) order[++count] = k
        want[k] = substr(pairs[i], eq + 1)
      }
    }
    /^[ \t]*[#!]/ { print; next }
    {
      line = $0
      if (match(line, /^[ \t]*[^ \t=:]+[ \t]*[=:]/)) {
        key = substr(line, 1, RLENGTH - 1)
        gsub(/[ \t]/, "", key)
        if (key in want) {
          seen[key] = 1
          value = substr(line, RLENGTH + 1)
          sub(/^[ \t]+/, "", value); sub(/[ \t]+#.*$/, "", value); sub(/[ \t]+$/, "", value)
          if (value != want[key]) { print key "=" want[key]; next }
        }
      }
      print
    }
    END { for (i = 1; i <= count; i++) if (!(order[i] in seen)) print order[i] "=" want[order[i]] }
  ' "$src" >"$dst.tmp"
  mv -f "$dst.tmp" "$dst"
}

stock_namesrv_conf() { printf '%s/conf/namesrv.conf\n' "$raftmq_home"; }
stock_broker_conf() { printf '%s/conf/dledger/broker-%s.conf\n' "$raftmq_home" "$1"; }

check_stock_confs() {
  local missing=() file member
  file=$(stock_namesrv_conf)
  [[ -f $file ]] || missing+=("$file")
  for member in "${members[@]}"; do
    file=$(stock_broker_conf "$member")
    [[ -f $file ]] || missing+=("$file")
  done
  if ((${#missing[@]} > 0)); then
    say "missing conf file(s): ${missing[*]}" >&2
    exit 1
  fi
}

# Writes ROOT/fast-try/conf/*.conf: the stock files with the overrides applied.
write_confs() {
  mkdir -p "$conf_dir"
  local changes=()
  [[ -z $namesrv_port_override ]] || changes=("listenPort=$namesrv_port_override")
  rewrite_conf "$(stock_namesrv_conf)" "$conf_dir/namesrv.conf" ${changes[@]+"${changes[@]}"}

  local peers='' i
  if ((${#raft_port_overrides[@]} == 3)); then
    for i in 0 1 2; do
      peers+="${peers:+;}${members[i]}-127.0.0.1:${raft_port_overrides[i]}"
    done
  fi
  for i in 0 1 2; do
    changes=()
    ((${#broker_port_overrides[@]} == 0)) || changes+=("listenPort=${broker_port_overrides[i]}")
    [[ -z $namesrv_port_override ]] || changes+=("namesrvAddr=127.0.0.1:$namesrv_port_override")
    [[ -z $peers ]] || changes+=("dLegerPeers=$peers")
    [[ -z $flush_override ]] || changes+=("flushDiskType=$flush_override")
    [[ -z $disk_ratio_override ]] || changes+=("diskSpaceWarningLevelRatio=$disk_ratio_override")
    # Three brokers share this machine: each gets its share of the cores,
    # rather than a thread per core each (which costs more in wake-ups).
    if [[ -n $threads_override ]]; then
      changes+=("serverWorkerThreads=$threads_override")
    elif [[ -z $(conf_value "$(stock_broker_conf "${members[i]}")" serverWorkerThreads) ]]; then
      changes+=("serverWorkerThreads=$threads_share")
    fi
    if [[ -n ${RAFTMQ_STORE_ROOT:-} ]]; then
      changes+=("storePathRootDir=$store_root/node0$i" "storePathCommitLog=$store_root/node0$i/commitlog")
    fi
    rewrite_conf "$(stock_broker_conf "${members[i]}")" "$conf_dir/broker-${members[i]}.conf" \
      ${changes[@]+"${changes[@]}"}
  done
}

# Runs `mqbroker --check` on the conf files about to be used.
check_broker_confs() {
  local member out
  for member in "${members[@]}"; do
    if ! out=$("$raftmq_home/bin/mqbroker" --check -c "$conf_dir/broker-$member.conf" 2>&1); then
      printf '%s\n' "$out" >&2
      say "$conf_dir/broker-$member.conf (from $(stock_broker_conf "$member")) did not pass mqbroker --check" >&2
      exit 1
    fi
    # Warnings only: the "FILE: OK" line adds nothing here.
    out=$(grep -v -F -x "$conf_dir/broker-$member.conf: OK" <<<"$out" || true)
    [[ -z $out ]] || printf '%s\n' "$out" >&2
  done
}

# ---- processes --------------------------------------------------------------

binary_of() {
  case $1 in
    namesrv) echo mqnamesrv ;;
    broker-*) echo mqbroker ;;
    *) return 1 ;;
  esac
}

log_of() {
  case $1 in
    namesrv) printf '%s/namesrv/namesrv.log\n' "$store_root" ;;
    broker-n*) printf '%s/node0%s/broker.log\n' "$store_root" "${1#broker-n}" ;;
  esac
}

# The arguments PID runs with, one a line; nothing once it has exited.
cmdline_of() {
  if [[ -r /proc/$1/cmdline ]]; then
    tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null || true
  else
    ps -o args= -p "$1" 2>/dev/null | tr ' ' '\n' || true
  fi
}

# is_ours NAME PID: PID is alive and is the binary fast-try started as NAME:
# one argument is the binary (or its launcher) and one is NAME's conf file.
# A pid the system handed to another process since then does not match.
# While a process is inside execve (setsid -> nohup -> launcher -> binary),
# its command line reads empty for a moment: an empty one is read again,
# for up to 1 s, before the process counts as not ours.
is_ours() {
  local bin conf arg args tries has_bin='' has_conf=''
  bin=$(binary_of "$1") || return 1
  conf=$conf_dir/$1.conf
  for ((tries = 0; tries < 50; tries++)); do
    args=$(cmdline_of "$2")
    [[ -z $args ]] || break
    is_alive "$2" || return 1
    sleep 0.02
  done
  while IFS= read -r arg; do
    [[ ${arg##*/} == "$bin" ]] && has_bin=1
    [[ $arg == "$conf" ]] && has_conf=1
  done <<<"$args"
  [[ -n $has_bin && -n $has_conf ]]
}

# is_alive PID: PID exists and is not a zombie.
is_alive() {
  local stat state
  if [[ -r /proc/$1/stat ]]; then
    stat=$(<"/proc/$1/stat") 2>/dev/null || return 1
    state=${stat##*) }
    [[ ${state%% *} != Z ]]
  else
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ -n $state && $state != Z* ]]
  fi
}

# pid_in FILE: the pid recorded in a pid file, or nothing.
pid_in() {
  local pid
  pid=$(head -n 1 "$1" 2>/dev/null || true)
  [[ $pid =~ ^[1-9][0-9]*$ ]] && printf '%s\n' "$pid"
  return 0
}

# Names with a pid file, brokers first (they unregister from the nameserver
# when they stop).
recorded_names() {
  local file name names=()
  for file in "$run_dir"/broker-*.pid "$run_dir"/namesrv.pid; do
    [[ -e $file ]] || continue
    name=${file##*/}
    names+=("${name%.pid}")
  done
  ((${#names[@]} == 0)) || printf '%s\n' "${names[@]}"
}

# stop_names NAME...: SIGTERM to each process still ours, SIGKILL to those
# alive after the grace period; removes the pid files. Sets stopped_count.
stop_names() {
  local name pid pids=() names=() left=()
  stopped_count=0
  for name in "$@"; do
    pid=$(pid_in "$run_dir/$name.pid")
    if [[ -n $pid ]] && is_ours "$name" "$pid"; then
      say "stopping $name (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      names+=("$name")
      pids+=("$pid")
      stopped_count=$((stopped_count + 1))
    elif [[ -e $run_dir/$name.pid ]]; then
      say "$name was not running (stale pid file removed)"
      rm -f "$run_dir/$name.pid"
    fi
  done
  local deadline=$(($(now_ms) + stop_grace_seconds * 1000)) i
  while ((${#pids[@]} > 0)); do
    left=()
    for i in "${!pids[@]}"; do
      if is_ours "${names[i]}" "${pids[i]}"; then
        left+=("$i")
      else
        rm -f "$run_dir/${names[i]}.pid"
      fi
    done
    ((${#left[@]} > 0)) || break
    if (($(now_ms) >= deadline)); then
      for i in "${left[@]}"; do
        say "${names[i]} (pid ${pids[i]}) still running after ${stop_grace_seconds}s: SIGKILL" >&2
        kill -KILL "${pids[i]}" 2>/dev/null || true
        rm -f "$run_dir/${names[i]}.pid"
      done
      break
    fi
    sleep 0.2
  done
}

# Exits 1 if a fast-try run on this store root is alive; removes stale pid files.
refuse_if_running() {
  local name pid running=()
  while IFS= read -r name; do
    pid=$(pid_in "$run_dir/$name.pid")
    if [[ -n $pid ]] && is_ours "$name" "$pid"; then
      running+=("$name (pid $pid)")
    else
      rm -f "$run_dir/$name.pid"
    fi
  done < <(recorded_names)
  if ((${#running[@]} > 0)); then
    say "already running in $store_root:" >&2
    printf '  %s\n' "${running[@]}" >&2
    say "stop it first: $(stop_command)" >&2
    exit 1
  fi
}

# One start or stop at a time per store root. fd 9 is closed in the children.
lock_run_dir() {
  mkdir -p "$run_dir"
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$run_dir/lock"
  flock -n 9 || {
    say "another fast-try.sh start or stop is running on $store_root" >&2
    exit 1
  }
}

started=()
start_complete=''

# launch NAME ARGS...: runs bin/<binary> ARGS in its own session, immune to
# the terminal's SIGINT and SIGHUP, output to its log; records the pid.
launch() {
  local name=$1 bin log
  shift
  bin=$(binary_of "$name")
  log=$(log_of "$name")
  mkdir -p "${log%/*}"
  [[ ! -e $log ]] || mv -f "$log" "$log.1"
  if command -v setsid >/dev/null 2>&1; then
    setsid nohup "$raftmq_home/bin/$bin" "$@" </dev/null >"$log" 2>&1 9>&- &
  else
    nohup "$raftmq_home/bin/$bin" "$@" </dev/null >"$log" 2>&1 9>&- &
  fi
  local pid=$!
  printf '%s\n' "$pid" >"$run_dir/$name.pid"
  started+=("$name")
  # Until the child has exec'd setsid, its command line is this script's and
  # is_ours would take it for gone: wait (a few ms) until it is recognisable.
  local tries
  for ((tries = 0; tries < 100; tries++)); do
    is_ours "$name" "$pid" && return 0
    is_alive "$pid" || return 0 # exited at once: check_started_alive reports it
    sleep 0.02
  done
  say "$name (pid $pid) did not start its binary within 2s; killing it" >&2
  kill -KILL "$pid" 2>/dev/null || true # our own child, so not a recycled pid
  exit 1
}

show_log_tail() {
  local log
  log=$(log_of "$1")
  if [[ ! -s $log ]]; then
    # A process that could not write a line of its log: a full disk is
    # the usual cause (the log lives beside the store).
    say "$log is empty; is its disk full? $(df -h --output=avail,target "$(dirname "$log")" 2>/dev/null | tail -n 1 | awk '{print $1 " free on " $2}')" >&2
    return 0
  fi
  say "last lines of $log:" >&2
  tail -n 20 "$log" 2>/dev/null | sed 's/^/  | /' >&2 || true
}

# Exits 1 (stopping everything, via the EXIT trap) if a started process died.
check_started_alive() {
  local name pid
  for name in "${started[@]}"; do
    pid=$(pid_in "$run_dir/$name.pid")
    if [[ -z $pid ]] || ! is_ours "$name" "$pid"; then
      say "$name exited during start-up" >&2
      show_log_tail "$name"
      exit 1
    fi
  done
}

on_start_exit() {
  local status=$?
  if [[ -z $start_complete ]] && ((${#started[@]} > 0)); then
    if ((status == 130 || status == 143)); then
      say "interrupted: stopping what start started" >&2
    else
      say "start failed: stopping what it started" >&2
    fi
    local reversed=() i
    for ((i = ${#started[@]} - 1; i >= 0; i--)); do reversed+=("${started[i]}"); done
    stop_names "${reversed[@]}" >&2
  fi
  exit "$status"
}

port_open() { (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Exits 1, before anything starts, if a port in the conf files used is taken:
# the nameserver's, each broker's listenPort and the Raft ports in dLegerPeers.
check_ports_free() {
  local what=() ports=() member peer peers i busy=()
  what+=("nameserver listenPort")
  ports+=("$(conf_value "$conf_dir/namesrv.conf" listenPort)")
  for member in "${members[@]}"; do
    what+=("broker-$member listenPort")
    ports+=("$(conf_value "$conf_dir/broker-$member.conf" listenPort)")
  done
  IFS=';' read -r -a peers <<<"$(conf_value "$conf_dir/broker-n0.conf" dLegerPeers)"
  for peer in "${peers[@]}"; do
    what+=("Raft port of ${peer%%-*}")
    ports+=("${peer##*:}")
  done
  for i in "${!ports[@]}"; do
    [[ ${ports[i]} =~ ^[0-9]+$ ]] || continue
    ! port_open "${ports[i]}" || busy+=("${ports[i]} (${what[i]})")
  done
  if ((${#busy[@]} > 0)); then
    say "port(s) already in use on 127.0.0.1: ${busy[*]}" >&2
    say "stop what listens there, or pick other ports (RAFTMQ_NAMESRV_PORT, RAFTMQ_BROKER_PORTS, RAFTMQ_RAFT_PORTS)" >&2
    exit 1
  fi
}

with_timeout() {
  if command -v timeout >/dev/null 2>&1; then timeout 5 "$@"; else "$@"; fi
}

cmd_start() {
  check_stock_confs
  lock_run_dir
  refuse_if_running

  # Build once, before any process starts and before the clock runs; the
  # launchers then exec the binaries without looking at cargo again.
  local entry
  if [[ -z ${RAFTMQ_BIN_DIR:-} ]]; then
    say "building mqnamesrv, mqbroker and mqadmin (release; the first time takes several minutes, later a no-op)"
    raftmq_build
    RAFTMQ_BIN_DIR=$(raftmq_release_dir)
  fi
  for entry in "${raftmq_binaries[@]}"; do
    [[ -x $RAFTMQ_BIN_DIR/${entry#*:} ]] || raftmq_die "no executable ${entry#*:} in $RAFTMQ_BIN_DIR"
  done
  export RAFTMQ_BIN_DIR

  write_confs
  check_broker_confs
  check_ports_free

  local namesrv_port group
  namesrv_port=$(conf_value "$conf_dir/namesrv.conf" listenPort)
  namesrv_port=${namesrv_port:-9876}
  group=$(conf_value "$conf_dir/broker-n0.conf" brokerName)
  group=${group:-RaftNode00}

  trap on_start_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  local deadline=$(($(now_ms) + start_timeout * 1000))

  launch namesrv -c "$conf_dir/namesrv.conf"
  until port_open "$namesrv_port"; do
    check_started_alive
    if (($(now_ms) >= deadline)); then
      say "the nameserver did not listen on 127.0.0.1:$namesrv_port within ${start_timeout}s" >&2
      show_log_tail namesrv
      exit 1
    fi
    sleep 0.2
  done

  local member
  for member in "${members[@]}"; do
    launch "broker-$member" -c "$conf_dir/broker-$member.conf"
  done
  say "started the nameserver on port $namesrv_port and brokers n0 n1 n2; waiting up to ${start_timeout}s for a leader of $group"

  local out=''
  while :; do
    check_started_alive
    if out=$(with_timeout "$raftmq_home/bin/mqadmin" clusterList -n "127.0.0.1:$namesrv_port" 2>&1) &&
      awk -v g="$group" '$2 == g && $3 == "0" { found = 1 } END { exit !found }' <<<"$out"; then
      break
    fi
    if (($(now_ms) >= deadline)); then
      say "no leader of $group after ${start_timeout}s; last mqadmin clusterList output:" >&2
      printf '%s\n' "$out" | sed 's/^/  | /' >&2
      for member in namesrv broker-n0 broker-n1 broker-n2; do show_log_tail "$member"; done
      exit 1
    fi
    sleep 0.2
  done

  # A follower may register a moment after the leader: give the listing up to
  # 3 s more to show the whole group.
  local settle=$(($(now_ms) + 3000)) rows latest
  while (($(now_ms) < settle)); do
    rows=$(awk -v g="$group" '$2 == g { n++ } END { print n + 0 }' <<<"$out")
    ((rows < ${#members[@]})) || break
    sleep 0.2
    latest=$(with_timeout "$raftmq_home/bin/mqadmin" clusterList -n "127.0.0.1:$namesrv_port" 2>&1) || break
    out=$latest
  done

  start_complete=1
  trap - EXIT INT TERM
  echo
  printf '%s\n' "$out"
  echo
  say "$group has a leader (BID 0). Logs: $store_root/namesrv/namesrv.log, $store_root/node0{0,1,2}/broker.log"
  warn_if_disk_too_full
  say "stop with: $(stop_command)"
}

# Warns when a broker's commitlog is on a disk already used past the
# broker's diskSpaceWarningLevelRatio: it would refuse every send.
warn_if_disk_too_full() {
  local member conf dir ratio used
  for member in "${members[@]}"; do
    conf=$conf_dir/broker-$member.conf
    dir=$(conf_value "$conf" storePathCommitLog)
    [[ -n $dir ]] || dir=$(conf_value "$conf" storePathRootDir)/commitlog
    ratio=$(conf_value "$conf" diskSpaceWarningLevelRatio)
    ratio=${ratio:-90}
    used=$(df --output=pcent "$dir" 2>/dev/null | tail -n 1 | tr -dc '0-9')
    if [[ -n $used && $ratio =~ ^[0-9]+$ ]] && ((used >= ratio)); then
      say "warning: $dir is on a disk ${used}% used; broker-$member refuses sends at ${ratio}% (diskSpaceWarningLevelRatio). Free space, or start with RAFTMQ_DISK_SPACE_WARNING_LEVEL_RATIO=$((used < 99 ? used + 1 : 100))" >&2
      return 0
    fi
  done
}

# How to stop this run, as a command line.
stop_command() {
  if [[ -n ${RAFTMQ_STORE_ROOT:-} ]]; then
    printf 'RAFTMQ_STORE_ROOT=%q %q stop\n' "$store_root" "$0"
  else
    printf '%q stop\n' "$0"
  fi
}

cmd_stop() {
  if [[ ! -d $run_dir ]]; then
    say "nothing to stop"
    return 0
  fi
  lock_run_dir
  local names=() brokers=() name total=0
  mapfile -t names < <(recorded_names)
  for name in "${names[@]}"; do
    [[ $name == namesrv ]] || brokers+=("$name")
  done
  # The brokers first: they unregister from the nameserver as they stop.
  if ((${#brokers[@]} > 0)); then
    stop_names "${brokers[@]}"
    total=$stopped_count
  fi
  if [[ -e $run_dir/namesrv.pid ]]; then
    stop_names namesrv
    total=$((total + stopped_count))
  fi
  if ((total == 0)); then
    say "nothing to stop"
  else
    say "stopped"
  fi
}

main() {
  (($# == 1)) || usage
  case $1 in
    start)
      read_store_root
      read_start_settings
      cmd_start
      ;;
    stop)
      read_store_root
      cmd_stop
      ;;
    *) usage ;;
  esac
}

# Sourced (by a test), it only defines its functions.
[[ ${BASH_SOURCE[0]} != "$0" ]] || main "$@"
