#!/usr/bin/env bash
# One reading of the standard fan-out (20 rooms x 50 members, 2 senders per room at 20 msg/s,
# 40,000 deliveries/s) against one node or two, as recorded in docs/performance.md
# ("Several nodes", issue 16). Run from the workspace root after
#   cargo build --release --bin chat-server --bin chat-bench
#
#   bench/nodes-sitting.sh sqlite  OUT_DIR   # one node, SQLite in a fresh data directory
#   bench/nodes-sitting.sh pg1     OUT_DIR   # one node, a fresh PostgreSQL database
#   bench/nodes-sitting.sh pg2     OUT_DIR   # two nodes, a fresh PostgreSQL database, Redis
#   (further arguments go to chat-bench fanout; DURATION=20 by default; PG_DB_SET="name = value"
#   sets a PostgreSQL setting on the fresh database only, for experiments such as
#   "synchronous_commit = off", which gives up the ack's durability and is never a reading;
#   NICE=-10 runs the nodes and the bench, and renices this database's PostgreSQL backends, at
#   that priority, so that compilers sharing the machine take less of the measured processes' CPU)
#
# Pinning (two cores): every chat-server node on core 0, chat-bench on core 1; PostgreSQL and
# Redis are shared services of the machine and are left where the scheduler puts them.
# Each run starts fresh servers on a fresh database (dropped afterwards) and, with Redis, a key
# prefix of its own, on ports 8181 and 8182 (refused when something else listens there).
# Writes OUT_DIR/<mode>-<time>.{txt,json}: the report and its JSON line, the load before and
# after, each node's context switches and the CPU of the database's PostgreSQL backends over the
# run; the nodes' logs beside them.
set -euo pipefail

mode=${1:?mode: sqlite, pg1 or pg2}
out=${2:?output directory}
shift 2
duration=${DURATION:-20}
pg=${PG:-postgres://postgres@127.0.0.1:5432}
redis=${REDIS:-redis://127.0.0.1:6379/0}
mkdir -p "$out"
tag="$mode-$(date -u +%H%M%S)"
log="$out/$tag.txt"
name="bench_$$_$(date +%s)"
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ $mode != sqlite ]]; then dropdb -h 127.0.0.1 -U postgres --if-exists "$name" || true; fi
  rm -rf "/tmp/$name"
}
trap cleanup EXIT

export CHAT_AUTH_RATE_PER_MIN=0 CHAT_RATE_PER_SEC=100000 CHAT_RATE_BURST=100000 \
  CHAT_MAX_CONNS_PER_IP=0 CHAT_MAX_CONNS_PER_USER=0 \
  CHAT_JWT_SECRET=bench-secret-bench-secret-bench-secret-0123 RUST_LOG=warn
ulimit -n 20000

start_node() { # port, then extra environment
  local port=$1
  shift
  if [[ -n $(ss -ltnH "sport = :$port") ]]; then
    echo "port $port is taken: the reading needs it free" >&2
    exit 1
  fi
  env "$@" nice -n "${NICE:-0}" taskset -c 0 target/release/chat-server --workers 1 --bind "127.0.0.1:$port" \
    --data-dir "/tmp/$name/$port" >"$out/$tag-node-$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0
    sleep 0.2
  done
  echo "node on $port did not start" >&2
  exit 1
}

# PostgreSQL's CPU (user + system clock ticks) of the backends serving this database.
pg_ticks() {
  local sum=0 p
  for p in $(psql -h 127.0.0.1 -U postgres -d test -Atc \
    "select pid from pg_stat_activity where datname = '$name'"); do
    sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$sum"
}

# Transactions committed in this database so far (every one: the writers' batches and the reads).
pg_commits() {
  psql -h 127.0.0.1 -U postgres -d test -Atc \
    "select xact_commit from pg_stat_database where datname = '$name'"
}

# The Redis server the nodes use (tests may run Redis servers of their own on other ports).
redis_pid() {
  local port=${redis##*:}
  port=${port%%/*}
  ss -ltnpH "sport = :$port" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2
}

create_database() {
  createdb -h 127.0.0.1 -U postgres "$name"
  if [[ -n ${PG_DB_SET:-} ]]; then
    psql -h 127.0.0.1 -U postgres -d test -qc "alter database $name set $PG_DB_SET"
  fi
}

mkdir -p "/tmp/$name"
args=()
server_pids=()
case $mode in
  sqlite)
    start_node 8181
    args=(--url http://127.0.0.1:8181 --server-pid "${pids[0]}")
    server_pids=("${pids[0]}")
    ;;
  pg1)
    create_database
    start_node 8181 DATABASE_URL="$pg/$name"
    args=(--url http://127.0.0.1:8181 --server-pid "${pids[0]}")
    server_pids=("${pids[0]}")
    ;;
  pg2)
    create_database
    # One node first, so the second finds the migrations done (they are locked anyway).
    start_node 8181 DATABASE_URL="$pg/$name" CHAT_REDIS_URL="$redis" CHAT_REDIS_PREFIX="$name"
    start_node 8182 DATABASE_URL="$pg/$name" CHAT_REDIS_URL="$redis" CHAT_REDIS_PREFIX="$name"
    args=(--url http://127.0.0.1:8181 --url http://127.0.0.1:8182
      --server-pid "${pids[0]}" --server-pid "${pids[1]}" --redis-pid "$(redis_pid)")
    server_pids=("${pids[0]}" "${pids[1]}")
    ;;
  *)
    echo "unknown mode $mode" >&2
    exit 2
    ;;
esac

{
  echo "# $tag $(git rev-parse --short HEAD) $(date -u +%FT%TZ) extra: $* ${PG_DB_SET:-}"
  echo "# before: $(uptime)"
} >"$log"
if [[ $mode != sqlite && ${NICE:-0} != 0 ]]; then
  # Backends open while the run goes on (the message writer's on the first batch): every 2 s.
  (while :; do
    for p in $(psql -h 127.0.0.1 -U postgres -d test -Atc \
      "select pid from pg_stat_activity where datname = '$name'"); do
      renice -n "$NICE" -p "$p" >/dev/null 2>&1 || true
    done
    sleep 2
  done) &
  pids+=($!)
fi
echo "# nice: ${NICE:-0}" >>"$log"
# Context switches of a node's threads so far (voluntary + involuntary).
switches() {
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}'
}
sw_before=()
for p in "${server_pids[@]}"; do sw_before+=("$(switches "$p")"); done
pg_before=0
[[ $mode != sqlite ]] && pg_before=$(pg_ticks)
tck=$(getconf CLK_TCK)

# The same counts over the measured window only: from the bench's "measuring" line on, for the
# window's length (sign-ins and connections, which cost many switches, left out).
window_counts() {
  local a=() b=() pa=0 pb=0 ca=0 cb=0 p i
  until grep -q '^chat-bench: measuring' "$out/$tag.stderr" 2>/dev/null; do sleep 0.05; done
  for p in "${server_pids[@]}"; do a+=("$(switches "$p")"); done
  [[ $mode != sqlite ]] && pa=$(pg_ticks) && ca=$(pg_commits)
  sleep "$duration"
  for p in "${server_pids[@]}"; do b+=("$(switches "$p")"); done
  [[ $mode != sqlite ]] && pb=$(pg_ticks) && cb=$(pg_commits)
  for i in "${!server_pids[@]}"; do
    echo "# node $i context switches over the window: $((b[i] - a[i]))"
  done
  [[ $mode != sqlite ]] &&
    echo "# postgres backends of $name: $(((pb - pa) * 1000 / tck)) ms CPU and $((cb - ca)) commits over the window"
  return 0
}
window_counts >"$out/$tag.window" &
counting=$!

nice -n "${NICE:-0}" taskset -c 1 target/release/chat-bench fanout --duration "$duration" "${args[@]}" "$@" \
  >>"$log" 2>"$out/$tag.stderr"
pg_after=0
[[ $mode != sqlite ]] && pg_after=$(pg_ticks)
wait "$counting" || true
{
  echo "# after: $(uptime)"
  for i in "${!server_pids[@]}"; do
    echo "# node $i context switches over the run: $(($(switches "${server_pids[$i]}") - sw_before[i]))"
  done
  [[ $mode != sqlite ]] &&
    echo "# postgres backends of $name: $(((pg_after - pg_before) * 1000 / tck)) ms CPU over the whole run (sign-ins and joins included)"
  cat "$out/$tag.window"
} >>"$log"
rm -f "$out/$tag.window"
grep '^{' "$log" | tail -n 1 >"$out/$tag.json"
cat "$log"
