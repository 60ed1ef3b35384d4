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
PG_DIR=$RUN_DIR/pg
REDIS_DIR=$RUN_DIR/redis
ENV_FILE=$RUN_DIR/services.env

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

pick_port() {
  local p tries=0
  while [ $tries -lt 200 ]; do
    p=$(( 20000 + (RANDOM * 7 + $$ + tries) % 30000 ))
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
  mkdir -p "$PG_DIR/sock"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR/sock" "$PG_DIR"
  return 0
}

pg_start() {
  load_ports
  pg_init
  # Already running (an earlier start): keep its port.
  if [ -n "${PG_PORT:-}" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
    return 0
  fi
  if [ -z "${PG_PORT:-}" ] || ! port_free "$PG_PORT"; then
    PG_PORT=$(pick_port)
  fi
  echo "$PG_PORT" >"$PG_DIR/port"
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 start \
    -o "-p $PG_PORT -k $PG_DIR/sock -c listen_addresses=127.0.0.1 -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
        -c shared_buffers=128MB" >/dev/null \
    || { tail -20 "$PG_DIR/server.log" >&2; exit 1; }
  wait_for 30 "$PG_BIN/pg_isready" -h "$PG_DIR/sock" -p "$PG_PORT" -q
  if ! "$PG_BIN/psql" -h "$PG_DIR/sock" -p "$PG_PORT" -U dialer -d postgres -Atqc \
      "SELECT 1 FROM pg_database WHERE datname='dialer'" | grep -q 1; then
    "$PG_BIN/psql" -h "$PG_DIR/sock" -p "$PG_PORT" -U dialer -d postgres -qc "CREATE DATABASE dialer" >/dev/null
  fi
}

pg_stop() {
  if [ -f "$PG_DIR/data/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  fi
}

redis_start() {
  load_ports
  mkdir -p "$REDIS_DIR"
  if [ -f "$REDIS_DIR/redis.pid" ] && kill -0 "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null; then
    return 0
  fi
  if [ -z "${REDIS_PORT:-}" ] || ! port_free "$REDIS_PORT"; then
    REDIS_PORT=$(pick_port)
  fi
  echo "$REDIS_PORT" >"$REDIS_DIR/port"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --protected-mode yes \
    --unixsocket "$REDIS_DIR/redis.sock" --unixsocketperm 700 --dir "$REDIS_DIR" \
    --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
    --save "" --appendonly no >/dev/null
  wait_for 20 redis-cli -p "$REDIS_PORT" ping
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
export DIALER_PG_SOCKDIR='$PG_DIR/sock'
export DIALER_PG_PORT='$PG_PORT'
export DIALER_PG_CONNINFO='host=$PG_DIR/sock port=$PG_PORT user=dialer dbname=dialer'
export DIALER_PG_TCP_CONNINFO='host=127.0.0.1 port=$PG_PORT user=dialer dbname=dialer'
export DIALER_REDIS_HOST='127.0.0.1'
export DIALER_REDIS_PORT='$REDIS_PORT'
export DIALER_REDIS_SOCK='$REDIS_DIR/redis.sock'
EOV
}

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
