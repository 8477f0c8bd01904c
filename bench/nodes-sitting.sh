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
#   "synchronous_commit = off", which gives up the ack's durability and is never a reading)
#
# Pinning (two cores): every chat-server node on core 0, chat-bench on core 1; PostgreSQL and
# Redis are shared services of the machine and are left where the scheduler puts them.
# Each run starts fresh servers on a fresh database (dropped afterwards) and, with Redis, a key
# prefix of its own. Writes OUT_DIR/<mode>-<time>.{txt,json} (the report, its JSON line, the
# load before and after, PostgreSQL's CPU over the run).
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
  env "$@" taskset -c 0 target/release/chat-server --workers 1 --bind "127.0.0.1:$port" \
    --data-dir "/tmp/$name/$port" >"$out/$tag-node-$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0
    sleep 0.2
  done
  echo "node on $port did not start" >&2
  exit 1
}

# PostgreSQL's CPU (user + system ticks, 100 a second) of the backends serving this database.
pg_ticks() {
  local sum=0 p
  for p in $(psql -h 127.0.0.1 -U postgres -d test -Atc \
    "select pid from pg_stat_activity where datname = '$name'"); do
    sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$sum"
}

create_database() {
  createdb -h 127.0.0.1 -U postgres "$name"
  if [[ -n ${PG_DB_SET:-} ]]; then
    psql -h 127.0.0.1 -U postgres -d test -qc "alter database $name set $PG_DB_SET"
  fi
}

mkdir -p "/tmp/$name"
args=()
case $mode in
  sqlite)
    start_node 8181
    args=(--url http://127.0.0.1:8181 --server-pid "${pids[0]}")
    ;;
  pg1)
    create_database
    start_node 8181 DATABASE_URL="$pg/$name"
    args=(--url http://127.0.0.1:8181 --server-pid "${pids[0]}")
    ;;
  pg2)
    create_database
    # One node first, so the second finds the migrations done (they are locked anyway).
    start_node 8181 DATABASE_URL="$pg/$name" CHAT_REDIS_URL="$redis" CHAT_REDIS_PREFIX="$name"
    start_node 8182 DATABASE_URL="$pg/$name" CHAT_REDIS_URL="$redis" CHAT_REDIS_PREFIX="$name"
    args=(--url http://127.0.0.1:8181 --url http://127.0.0.1:8182
      --server-pid "${pids[0]}" --server-pid "${pids[1]}" --redis-pid "$(pgrep -x redis-server)")
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
pg_before=0
[[ $mode != sqlite ]] && pg_before=$(pg_ticks)
taskset -c 1 target/release/chat-bench fanout --duration "$duration" "${args[@]}" "$@" \
  >>"$log" 2>"$out/$tag.stderr"
pg_after=0
[[ $mode != sqlite ]] && pg_after=$(pg_ticks)
{
  echo "# after: $(uptime)"
  echo "# postgres backends of $name: $(((pg_after - pg_before)))0 ms CPU over the whole run (sign-ins and joins included)"
} >>"$log"
grep '^{' "$log" | tail -n 1 >"$out/$tag.json"
cat "$log"
