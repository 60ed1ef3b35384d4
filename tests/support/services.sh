#!/usr/bin/env bash
# Starts and stops a private PostgreSQL and Redis for tests and the demo.
#
#   services.sh start        initdb (once) into $RUN_DIR/pg, start both, write $RUN_DIR/services.env
#   services.sh stop         stop both (safe to call when they are not running)
#   services.sh restart-pg   stop and start PostgreSQL on the same port (fault tests)
#   services.sh stop-pg | start-pg | stop-redis | start-redis | restart-redis
#   services.sh status
#
# PostgreSQL listens on a unix socket in $RUN_DIR/pg/sock and on a free
# loopback port; Redis on a free loopback port and $RUN_DIR/redis/redis.sock.
# Nothing touches a system-wide PostgreSQL or Redis. PostgreSQL refuses to
# run as root, so as root its programs run as the "postgres" system user
# (created by Debian's postgresql package).
#
# services.env (sourced by the test runner and the demo) exports:
#   DIALER_PG_SOCKDIR DIALER_PG_PORT DIALER_PG_CONNINFO (superuser "dialer", db "dialer")
#   DIALER_REDIS_HOST DIALER_REDIS_PORT DIALER_REDIS_SOCK
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN_DIR=${RUN_DIR:-$ROOT/run}
case "$RUN_DIR" in /*) ;; *) RUN_DIR=$PWD/$RUN_DIR ;; esac # PostgreSQL wants absolute paths
PG_DIR=$RUN_DIR/pg
REDIS_DIR=$RUN_DIR/redis
ENV_FILE=$RUN_DIR/services.env
# Unix socket paths are limited to 107 bytes: a run directory deep in a long
# checkout path gets its sockets in a short directory under /tmp instead.
PG_SOCK=$PG_DIR/sock
REDIS_SOCK=$REDIS_DIR/redis.sock
if [ $(( ${#PG_SOCK} + 16 )) -gt 100 ] || [ ${#REDIS_SOCK} -gt 100 ]; then
  SHORT=/tmp/dialer-$(printf '%s' "$RUN_DIR" | md5sum | cut -c1-12)
  PG_SOCK=$SHORT/pg
  REDIS_SOCK=$SHORT/redis.sock
fi

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PG_BIN" ] || { echo "services: PostgreSQL server binaries not found (make deps)" >&2; exit 1; }

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

port_free() {
  ! (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null
}

# Ports come from below the kernel's ephemeral range: a port the kernel has
# handed to an outgoing connection refuses no connect() (nothing listens on
# it) yet makes bind() fail, so picking from inside that range fails now and
# then on a busy machine.
pick_port() {
  local p tries=0 lo=32768 span
  read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  [ "$lo" -gt 12000 ] 2>/dev/null || lo=32768
  span=$((lo - 11000))
  while [ $tries -lt 200 ]; do
    p=$(( 10000 + (RANDOM * 7 + $$ + tries) % span ))
    if port_free "$p"; then echo "$p"; return 0; fi
    tries=$((tries + 1))
  done
  echo "services: no free loopback port found" >&2
  return 1
}

wait_for() { # wait_for <seconds> <command...>
  local limit=$(( $1 * 10 )) i=0
  shift
  while [ $i -lt $limit ]; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
    i=$((i + 1))
  done
  return 1
}

load_ports() {
  PG_PORT=$(cat "$PG_DIR/port" 2>/dev/null || true)
  REDIS_PORT=$(cat "$REDIS_DIR/port" 2>/dev/null || true)
}

pg_init() {
  mkdir -p "$PG_DIR"
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR"
    as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U dialer --auth=trust -E UTF8 --locale=C.UTF-8 \
      >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
  fi
  mkdir -p "$PG_SOCK"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_SOCK" "$PG_DIR"
  return 0
}

pg_start() {
  load_ports
  pg_init
  # Already running (an earlier start): keep its port.
  if [ -n "${PG_PORT:-}" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
    return 0
  fi
  # A start that fails (the port was taken between the check and the bind)
  # is retried on another port; the last failure prints the server's log.
  local attempt
  for attempt in 1 2 3 4; do
    if [ -z "${PG_PORT:-}" ] || { [ "$KEEP_PORT" -eq 0 ] && ! port_free "$PG_PORT"; }; then
      PG_PORT=$(pick_port)
    fi
    echo "$PG_PORT" >"$PG_DIR/port"
    if as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start \
      -o "-p $PG_PORT -k $PG_SOCK -c listen_addresses=127.0.0.1 -c fsync=off \
          -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
          -c shared_buffers=128MB" >/dev/null 2>&1 \
      && wait_for 60 "$PG_BIN/pg_isready" -h "$PG_SOCK" -p "$PG_PORT" -q; then
      break
    fi
    if [ $attempt -eq 4 ]; then
      echo "services: PostgreSQL did not start (port $PG_PORT); its log:" >&2
      tail -20 "$PG_DIR/server.log" >&2
      exit 1
    fi
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    # A restart keeps its port (clients are configured with it): it waits
    # for the port instead of moving.
    if [ "$KEEP_PORT" -eq 1 ]; then sleep 1; else PG_PORT=; fi
  done
  if ! "$PG_BIN/psql" -h "$PG_SOCK" -p "$PG_PORT" -U dialer -d postgres -Atqc \
      "SELECT 1 FROM pg_database WHERE datname='dialer'" | grep -q 1; then
    "$PG_BIN/psql" -h "$PG_SOCK" -p "$PG_PORT" -U dialer -d postgres -qc "CREATE DATABASE dialer" >/dev/null
  fi
}

pg_stop() {
  if [ -f "$PG_DIR/data/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  fi
}

redis_start() {
  load_ports
  mkdir -p "$REDIS_DIR" "$(dirname "$REDIS_SOCK")"
  if [ -f "$REDIS_DIR/redis.pid" ] && kill -0 "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null; then
    return 0
  fi
  # Redis daemonizes before it binds, so a taken port shows only in its log
  # and as a ping that never answers: retried on another port, and the last
  # failure prints the log.
  local attempt
  for attempt in 1 2 3 4; do
    if [ -z "${REDIS_PORT:-}" ] || { [ "$KEEP_PORT" -eq 0 ] && ! port_free "$REDIS_PORT"; }; then
      REDIS_PORT=$(pick_port)
    fi
    echo "$REDIS_PORT" >"$REDIS_DIR/port"
    : >"$REDIS_DIR/redis.log"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
      --unixsocket "$REDIS_SOCK" --unixsocketperm 700 --dir "$REDIS_DIR" \
      --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
      --save "" --appendonly no >/dev/null 2>&1 || true
    if wait_for 30 redis-cli -p "$REDIS_PORT" ping; then
      return 0
    fi
    redis_stop
    if [ $attempt -eq 4 ]; then
      echo "services: Redis did not start (port $REDIS_PORT); its log:" >&2
      tail -20 "$REDIS_DIR/redis.log" >&2
      exit 1
    fi
    if [ "$KEEP_PORT" -eq 1 ]; then sleep 1; else REDIS_PORT=; fi
  done
}

redis_stop() {
  if [ -f "$REDIS_DIR/redis.pid" ]; then
    local pid
    pid=$(cat "$REDIS_DIR/redis.pid")
    kill "$pid" 2>/dev/null || true
    local i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$REDIS_DIR/redis.pid"
  fi
}

write_env() {
  load_ports
  cat >"$ENV_FILE" <<EOV
export DIALER_RUN_DIR='$RUN_DIR'
export DIALER_PG_BIN='$PG_BIN'
export DIALER_PG_SOCKDIR='$PG_SOCK'
export DIALER_PG_PORT='$PG_PORT'
export DIALER_PG_CONNINFO='host=$PG_SOCK port=$PG_PORT user=dialer dbname=dialer'
export DIALER_PG_TCP_CONNINFO='host=127.0.0.1 port=$PG_PORT user=dialer dbname=dialer'
export DIALER_REDIS_HOST='127.0.0.1'
export DIALER_REDIS_PORT='$REDIS_PORT'
export DIALER_REDIS_SOCK='$REDIS_SOCK'
EOV
}

# start may move to a new port; the single-service commands keep theirs.
KEEP_PORT=1
case "${1:-}" in start|"") KEEP_PORT=0 ;; esac
case "${1:-}" in
  start) pg_start; redis_start; write_env; echo "services: PostgreSQL on 127.0.0.1:$PG_PORT, Redis on 127.0.0.1:$REDIS_PORT (env in $ENV_FILE)" ;;
  stop) redis_stop; pg_stop ;;
  start-pg) pg_start; write_env ;;
  stop-pg) pg_stop ;;
  restart-pg) pg_stop; pg_start; write_env ;;
  start-redis) redis_start; write_env ;;
  stop-redis) redis_stop ;;
  restart-redis) redis_stop; redis_start; write_env ;;
  status)
    load_ports
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1 && echo "postgresql: running on $PG_PORT" || echo "postgresql: stopped"
    redis-cli -p "${REDIS_PORT:-0}" ping >/dev/null 2>&1 && echo "redis: running on $REDIS_PORT" || echo "redis: stopped" ;;
  *) echo "usage: $0 start|stop|restart-pg|start-pg|stop-pg|start-redis|stop-redis|restart-redis|status" >&2; exit 2 ;;
esac
