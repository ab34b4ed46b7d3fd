#!/usr/bin/env bash
# A throw-away, single-node, in-memory Ceph cluster with an S3 gateway (RGW),
# for the tests. See docs/s3-test-server.md for why and how.
#
#   rgw.sh start DIR RGW_PORT [MON_PORT]   bring it up under DIR (made if absent)
#   rgw.sh stop DIR                        stop it: rgw, then osd, then mon
#
# Everything (config, pid files, logs, mon store) lives under DIR; the OSD keeps
# its objects in RAM (memstore), so each start is empty. Daemons are stopped by
# their pid files only, never by name.
#
# Environment (all optional):
#   RGW_ACCESS_KEY / RGW_SECRET_KEY   the S3 user's keys (testaccess / testsecret)
#   RGW_MEMSTORE_BYTES                OSD capacity; RAM is only used as data is
#                                     written (default 8 GiB)
#   RGW_START_TIMEOUT                 seconds to wait for each step (default 60)
#   RGW_KEEP_ON_FAILURE=1             leave the daemons up when start fails (debugging)
set -euo pipefail

ACCESS_KEY=${RGW_ACCESS_KEY:-testaccess}
SECRET_KEY=${RGW_SECRET_KEY:-testsecret}
MEMSTORE_BYTES=${RGW_MEMSTORE_BYTES:-$((8 * 1024 * 1024 * 1024))}
STEP_TIMEOUT=${RGW_START_TIMEOUT:-60}

log() { printf '[rgw.sh] %s\n' "$*" >&2; }
T0=${EPOCHREALTIME/./}
# Seconds since the script started, with one decimal.
elapsed() { local us=$((${EPOCHREALTIME/./} - T0)); printf '%d.%01d' $((us / 1000000)) $((us % 1000000 / 100000)); }
die() { log "error: $*"; exit 1; }

usage() {
  echo "usage: $0 start DIR RGW_PORT [MON_PORT] | $0 stop DIR" >&2
  exit 2
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port nothing listens on, below the usual ephemeral range (32768-60999) so
# that no outgoing connection holds it (no node/python needed).
pick_free_port() {
  local p i
  for i in $(seq 1 50); do
    p=$((20000 + RANDOM % 12000))
    if ! port_open "$p"; then echo "$p"; return 0; fi
  done
  die "no free port found"
}

# First status line of GET / on 127.0.0.1:$1, or nothing.
http_status_line() {
  local line=""
  {
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 0
    printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    IFS= read -r -t 5 line <&3 || true
    exec 3<&- 3>&-
  } 2>/dev/null
  printf '%s' "${line%$'\r'}"
}

ensure_installed() {
  if command -v radosgw >/dev/null && command -v ceph-mon >/dev/null &&
    command -v ceph-osd >/dev/null; then
    return 0
  fi
  log "radosgw/ceph-mon/ceph-osd missing: installing them with apt-get (about 40 s)"
  [[ $(id -u) == 0 ]] || die "must be root to apt-get install radosgw ceph-mon ceph-osd"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    radosgw ceph-mon ceph-osd >/dev/null
}

write_conf() {
  local dir=$1 fsid=$2 mon_port=$3 rgw_port=$4
  cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$mon_port
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr2 = false
# No cephx inside this private cluster; S3 requests are still signature-checked.
auth cluster required = none
auth service required = none
auth client required = none
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon max pg per osd = 1000
# Commit map changes (pool creation, OSD boot) after 50 ms, not 1 s.
paxos propose interval = 0.05
# The mon store is on the temp disk: do not stop because that disk is nearly full.
mon data avail crit = 0
mon data avail warn = 0
run dir = $dir/run
pid file = $dir/run/\$name.pid
log file = $dir/log/\$name.log
keyring = $dir/keyring
mon data = $dir/\$name
osd data = $dir/\$name
debug ms = 0
# At boot the OSD would ask the mon to place it in the CRUSH map and set its
# device class; with a fast mon that request can leave before the OSD has the
# monmap, carry a zero fsid and make the OSD quit ("wrong fsid"). The script
# places it itself (create_pools).
osd crush update on start = false
osd class update on start = false

[mon]
admin socket = $dir/run/\$name.asok

[osd]
admin socket = $dir/run/\$name.asok

[client.rgw.a]
admin socket = $dir/run/\$name.asok
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $dir/rgw.a
rgw dns name = 127.0.0.1
# Deleted and overwritten objects are freed by RGW's garbage collector; with
# the default (2 h) their bytes would stay in RAM for the whole test run.
rgw gc obj min wait = 10
rgw gc processor period = 10
# No bucket lifecycle processing: not needed here, and its 5 s sleeps delay shutdown.
rgw enable lc threads = false
EOF
}

start() {
  local dir=$1 rgw_port=$2 mon_port=${3:-}
  ensure_installed

  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  [[ ! -e "$dir/ceph.conf" ]] || die "$dir already holds a cluster: stop it first, or use a fresh directory"
  port_open "$rgw_port" && die "port $rgw_port is already in use"
  [[ -n $mon_port ]] || mon_port=$(pick_free_port)
  port_open "$mon_port" && die "mon port $mon_port is already in use"

  mkdir -p "$dir/mon.a" "$dir/osd.0" "$dir/rgw.a" "$dir/run" "$dir/log"
  local fsid osd_uuid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$dir" "$fsid" "$mon_port" "$rgw_port"
  echo "$rgw_port" >"$dir/rgw.port"
  echo "$mon_port" >"$dir/mon.port"
  export CEPH_CONF=$dir/ceph.conf
  SETUP_LOG=$dir/log/setup.log

  # From here on, a failure or a signal stops whatever was started.
  START_DIR=$dir
  trap start_failed EXIT
  trap 'INTERRUPTED=1; exit 130' INT
  trap 'INTERRUPTED=1; exit 143' TERM
  trap 'INTERRUPTED=1; exit 129' HUP

  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  # --addv with an explicit v1 address: `--add a 127.0.0.1:PORT` records a msgr2
  # address for any port but 6789, and clients (speaking v1 here) then hang.
  monmaptool --create --clobber --fsid "$fsid" --addv a "[v1:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  ceph-mon --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" >>"$SETUP_LOG" 2>&1
  ceph-mon -i a >>"$SETUP_LOG" 2>&1
  wait_daemon "$dir" mon.a "ceph-mon" port_open "$mon_port"

  # Clients of this mon now and then send their first command before they have
  # the monmap, with a zero fsid, and the mon refuses it ("wrong fsid" /
  # "problem getting command descriptions"): every step below is idempotent
  # and retried.
  local osd_id
  osd_id=$(retry 5 ceph_cmd osd new "$osd_uuid") || die "ceph osd new failed"
  [[ $osd_id == 0 ]] || die "unexpected osd id '$osd_id'"
  # Make RGW's pools now, in one ceph process, while the OSD boots: radosgw
  # would otherwise create them one by one (about 2 s each), at start-up and on
  # the first CreateBucket, PutObject and CreateMultipartUpload.
  retry 5 create_pools &
  local pools_pid=$!
  # memstore ignores --osd-uuid: without this file the OSD dies with "wrong fsid".
  echo "$osd_uuid" >"$dir/osd.$osd_id/fsid"
  ceph-osd -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >>"$SETUP_LOG" 2>&1
  start_daemon "$dir" osd.0 "the OSD" osd_up -- ceph-osd -i "$osd_id"
  wait "$pools_pid" || die "creating the RGW pools failed"
  log "mon, osd and pools up after $(elapsed)s"

  start_daemon "$dir" client.rgw.a "radosgw on 127.0.0.1:$rgw_port" rgw_answers "$rgw_port" \
    -- radosgw -n client.rgw.a
  retry 5 create_user || die "radosgw-admin user create failed"

  trap - EXIT INT TERM HUP
  log "S3 (Ceph RGW) ready at http://127.0.0.1:$rgw_port in $(elapsed)s (dir $dir)"
}

# retry N COMMAND...: run COMMAND until it succeeds, at most N times.
retry() {
  local n=$1 i
  shift
  for ((i = 1; ; i++)); do
    "$@" && return 0
    ((i < n)) || return 1
    echo "[rgw.sh] attempt $i of '$*' failed; retrying" >>"$SETUP_LOG"
    sleep 0.5
  done
}

# A ceph CLI command; its errors go to the setup log.
ceph_cmd() {
  timeout --foreground 30 ceph --connect-timeout 20 "$@" 2>>"$SETUP_LOG"
}

# wait_daemon DIR NAME WHAT CHECK...: wait until CHECK succeeds. Returns 2 at
# once if the daemon (pid file DIR/run/NAME.pid) has died, 1 on time-out.
wait_daemon() {
  local dir=$1 name=$2 what=$3 deadline pid
  shift 3
  deadline=$((SECONDS + STEP_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    pid=$(cat "$dir/run/$name.pid" 2>/dev/null || true)
    if [[ -n $pid ]] && ! running "$pid"; then
      log "$what (pid $pid) exited before it was ready"
      return 2
    fi
    if ((SECONDS >= deadline)); then
      log "timed out after ${STEP_TIMEOUT}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

# start_daemon DIR NAME WHAT CHECK... -- COMMAND...: start a daemon and wait
# for CHECK; if it dies on the way, start it again (three tries).
start_daemon() {
  local dir=$1 name=$2 what=$3 try rc
  shift 3
  local check=()
  while [[ $1 != -- ]]; do check+=("$1"); shift; done
  shift
  for try in 1 2 3; do
    "$@" >>"$SETUP_LOG" 2>&1 || true
    rc=0
    wait_daemon "$dir" "$name" "$what" "${check[@]}" || rc=$?
    ((rc == 0)) && return 0
    ((rc == 2)) || return 1
    rm -f "$dir/run/$name.pid"
  done
  return 1
}

RGW_POOLS=(.rgw.root default.rgw.control default.rgw.meta default.rgw.log
  default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec)

# Places osd.0 in the CRUSH map and makes the pools RGW uses. Succeeds only
# when all of that is in place (the CLI's batch mode does not stop on errors).
create_pools() {
  local pool pools tree
  {
    echo "osd crush add osd.0 1.0 root=default"
    for pool in "${RGW_POOLS[@]}"; do
      echo "osd pool create $pool 8 8 replicated --autoscale-mode=off"
      echo "osd pool application enable $pool rgw"
    done
  } | ceph_cmd >>"$SETUP_LOG" || return 1
  tree=$(ceph_cmd osd crush ls default) || return 1
  [[ $'\n'$tree$'\n' == *$'\nosd.0\n'* ]] || return 1
  pools=$(ceph_cmd osd pool ls) || return 1
  for pool in "${RGW_POOLS[@]}"; do
    [[ $'\n'$pools$'\n' == *$'\n'"$pool"$'\n'* ]] || return 1
  done
}

create_user() {
  timeout --foreground 30 radosgw-admin user info --uid=test >/dev/null 2>&1 && return 0
  timeout --foreground 30 radosgw-admin user create --uid=test --display-name=test \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >>"$SETUP_LOG" 2>&1
}

start_failed() {
  if [[ -n ${INTERRUPTED:-} ]]; then
    log "start interrupted; stopping what was started"
  else
    log "start failed; the last lines of the daemon logs follow"
    tail -n 25 "$START_DIR"/log/*.log >&2 2>/dev/null || true
  fi
  if [[ -n ${RGW_KEEP_ON_FAILURE:-} ]]; then
    log "RGW_KEEP_ON_FAILURE is set: leaving the daemons running; stop them with: $0 stop $START_DIR"
    return
  fi
  stop "$START_DIR"
}

osd_up() {
  local out
  out=$(timeout --foreground 10 ceph --connect-timeout 5 osd stat 2>/dev/null) || return 1
  [[ $out == *"1 up"* ]]
}

rgw_answers() {
  [[ $(http_status_line "$1") == HTTP/* ]]
}

# True while process $1 runs. A zombie counts as gone: daemons are re-parented
# to PID 1, which on some machines reaps them only every few seconds.
running() {
  local stat
  stat=$(<"/proc/$1/stat") 2>/dev/null || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# Stop one daemon by its pid file: SIGTERM, wait, then SIGKILL. The pid must
# still be the expected program started with this cluster's CEPH_CONF, so a
# stale pid file never hits an unrelated process.
stop_daemon() {
  local dir=$1 name=$2 prog=$3 wait_s=$4 pid exe i
  local pidfile="$dir/run/$name.pid"
  [[ -s $pidfile ]] || return 0
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] || { rm -f "$pidfile"; return 0; }
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || { rm -f "$pidfile"; return 0; }
  if [[ ${exe##*/} != "$prog" ]] ||
    ! tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "CEPH_CONF=$dir/ceph.conf"; then
    log "pid $pid in $pidfile is not this cluster's $prog; leaving it alone"
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < wait_s * 10; i++)); do
    running "$pid" || { rm -f "$pidfile"; return 0; }
    sleep 0.1
  done
  log "$name (pid $pid) did not exit within ${wait_s}s of SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    running "$pid" || break
    sleep 0.1
  done
  rm -f "$pidfile"
}

stop() {
  local dir=$1
  [[ -d $dir ]] || return 0
  dir=$(cd "$dir" && pwd -P)
  # The order matters: an OSD whose mon is gone hangs on shutdown. (The OSD
  # exits at once, osd_fast_shutdown: memstore does not save its objects.)
  stop_daemon "$dir" client.rgw.a radosgw 20
  stop_daemon "$dir" osd.0 ceph-osd 20
  stop_daemon "$dir" mon.a ceph-mon 20
  stop_strays "$dir"
}

# A start interrupted at the wrong moment can leave a daemon that had not yet
# written its pid file. Such a daemon is still recognisable as this cluster's:
# a ceph daemon whose environment has CEPH_CONF=DIR/ceph.conf (unique per run).
stop_strays() {
  local dir=$1 environ pid exe
  for environ in /proc/[0-9]*/environ; do
    pid=${environ#/proc/}
    pid=${pid%/environ}
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
    case ${exe##*/} in radosgw | ceph-osd | ceph-mon) ;; *) continue ;; esac
    tr '\0' '\n' <"$environ" 2>/dev/null | grep -qxF "CEPH_CONF=$dir/ceph.conf" || continue
    running "$pid" || continue
    log "stopping ${exe##*/} (pid $pid) of this cluster that had no pid file"
    kill -KILL "$pid" 2>/dev/null || true
  done
}

case ${1:-} in
  start)
    [[ $# -ge 3 && $# -le 4 ]] || usage
    [[ $3 =~ ^[0-9]+$ && ( -z ${4:-} || ${4:-} =~ ^[0-9]+$ ) ]] || usage
    start "$2" "$3" "${4:-}"
    ;;
  stop)
    [[ $# -eq 2 ]] || usage
    stop "$2"
    ;;
  *) usage ;;
esac
