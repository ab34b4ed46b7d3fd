#!/usr/bin/env bash
# A throw-away Redis for the tests: 127.0.0.1 only, nothing written to disk.
#
#   redis.sh start DIR PORT   start redis-server (daemonized, pid file DIR/redis.pid)
#   redis.sh stop DIR         stop it by that pid file, never by name
#
# Installs redis-server with apt-get when it is missing (needs root).
set -euo pipefail

log() { printf '[redis.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
usage() { echo "usage: $0 start DIR PORT | $0 stop DIR" >&2; exit 2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True when the server on port $1 answers PING with +PONG.
pong() {
  local line=""
  {
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'PING\r\n' >&3
    IFS= read -r -t 2 line <&3 || true
    exec 3<&- 3>&-
  } 2>/dev/null
  [[ ${line%$'\r'} == +PONG ]]
}

# True while process $1 runs (a zombie counts as gone).
running() {
  local stat
  stat=$(<"/proc/$1/stat") 2>/dev/null || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

start() {
  local dir=$1 port=$2 i
  if ! command -v redis-server >/dev/null; then
    log "redis-server missing: installing it with apt-get"
    [[ $(id -u) == 0 ]] || die "must be root to apt-get install redis-server"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  port_open "$port" && die "port $port is already in use"
  # No RDB snapshots, no AOF: the data lives and dies with the process.
  redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
    --save '' --appendonly no --dir "$dir" \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  for ((i = 0; i < 100; i++)); do
    if pong "$port"; then
      log "Redis ready at redis://127.0.0.1:$port (pid $(<"$dir/redis.pid"))"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$dir/redis.log" >&2 || true
  stop "$dir"
  die "redis-server did not answer PING on port $port within 10 s"
}

stop() {
  local dir=$1 pid exe i
  [[ -d $dir ]] || return 0
  dir=$(cd "$dir" && pwd -P)
  local pidfile="$dir/redis.pid"
  [[ -s $pidfile ]] || return 0
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || { rm -f "$pidfile"; return 0; }
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || { rm -f "$pidfile"; return 0; }
  # Debian's redis-server is a link to redis-check-rdb. Redis runs in --dir.
  if [[ ${exe##*/} != redis-server && ${exe##*/} != redis-check-rdb ]] ||
    [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) != "$dir" ]]; then
    log "pid $pid in $pidfile is not this directory's redis-server; leaving it alone"
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    running "$pid" || { rm -f "$pidfile"; return 0; }
    sleep 0.1
  done
  log "redis-server (pid $pid) did not exit within 10 s of SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

case ${1:-} in
  start)
    [[ $# -eq 3 && $3 =~ ^[0-9]+$ ]] || usage
    start "$2" "$3"
    ;;
  stop)
    [[ $# -eq 2 ]] || usage
    stop "$2"
    ;;
  *) usage ;;
esac
