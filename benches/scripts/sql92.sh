#!/usr/bin/env bash
# benches/scripts/sql92.sh [WORKDIR]
#
# SQL92 filtering on the broker (issue 20): a fresh fast-try group; MESSAGES
# messages of SIZE bytes, each with the properties region=us and tier=gold,
# and match=yes on every EVERY-th (match=no on the others); then, ROUNDS
# times, two drains with fresh consumer groups:
#   all:    every message, no filter        (mqbench consume)
#   sql92:  "match = 'yes' AND region = 'us'", MESSAGES/EVERY of them
#           (mqbench consume --sql): the broker reads every message and
#           sends only the matching ones
# Prints each drain's JSON report, the ratio of the drain times (all over
# sql92), and the brokers' CPU per scanned message in the sql92 drain (the
# three members' CPU over the drain, divided by MESSAGES). Everything it
# starts is stopped on exit.
#
# Environment: RAFTMQ_BIN_DIR (required), MESSAGES [1000000], EVERY [100],
# SIZE [1024], ROUNDS [2], CONSUMERS [4] receivers, BATCH [128] per receive.
set -euo pipefail

here=$(CDPATH='' cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(CDPATH='' cd -P "$here/../.." && pwd)
work=${1:-$(mktemp -d /tmp/sql92.XXXXXX)}
: "${RAFTMQ_BIN_DIR:?set RAFTMQ_BIN_DIR to a directory holding mqnamesrv, mqbroker, mqadmin, mqbench}"
export RAFTMQ_BIN_DIR
mkdir -p "$work"
messages=${MESSAGES:-1000000}
every=${EVERY:-100}
matching=$(((messages + every - 1) / every))

# shellcheck source=lib/groups.sh
. "$here/lib/groups.sh"
trap stop_all_groups EXIT

new_group sql92
start_group sql92
ns=$(group_ns sql92)
pids=$(group_pids sql92)
bench() { "$RAFTMQ_BIN_DIR/mqbench" "$@" --namesrv "$ns" --topic Sql92Bench --server-pids "$pids" --json; }
field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

say "producing $messages messages of ${SIZE:-1024} B, match=yes on every $every-th"
bench produce --messages "$messages" --size "${SIZE:-1024}" --inflight 256 \
  --property region=us --property tier=gold --match-every "$every" | tail -n 1

for round in $(seq 1 "${ROUNDS:-2}"); do
  say "round $round: drain all $messages"
  all=$(bench consume --group "AllReaders$round" --messages "$messages" \
    --inflight "${CONSUMERS:-4}" --batch "${BATCH:-128}" | tail -n 1)
  echo "$all"
  say "round $round: drain the $matching matching ones through the SQL92 filter"
  sql=$(bench consume --group "SqlReaders$round" --messages "$matching" \
    --inflight "${CONSUMERS:-4}" --batch "${BATCH:-128}" \
    --sql "match = 'yes' AND region = 'us'" | tail -n 1)
  echo "$sql"
  python3 - "$all" "$sql" "$messages" <<'EOF'
import json, sys
a, s, scanned = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
ratio = a["seconds"] / s["seconds"]
cpu_s = s["messages"] * s.get("server_cpu_us_per_msg", 0) / 1e6
print(f"all: {a['messages']} in {a['seconds']:.2f} s ({a['msgs_per_sec']} msg/s); "
      f"sql92: {s['messages']} in {s['seconds']:.2f} s ({s['msgs_per_sec']} msg/s); "
      f"the filtered drain is {ratio:.1f}x faster; broker CPU in the sql92 drain "
      f"{cpu_s:.2f} s = {cpu_s * 1e6 / scanned:.2f} us per scanned message "
      f"({a.get('server_cpu_us_per_msg', 0):.2f} us per message in the full drain)")
EOF
done
