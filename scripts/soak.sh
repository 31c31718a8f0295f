#!/usr/bin/env bash
# Bounded soak test on loopback: starts a fresh pushi, runs `pushi soak`
# against it (thousands of subscribers, continuous publishing, churn, slow
# readers, malformed frames, a connection flood, a channel_vacated webhook
# storm, slow-body HTTP attackers; see internal/soak), then stops the
# server with SIGTERM and checks it exited cleanly without a panic or race
# report in its log.
#
#   scripts/soak.sh                                   # 60 s, 3000 subscribers
#   SOAK_DURATION=30s SOAK_CONNS=2000 scripts/soak.sh # the CI profile
#
# Extra flags for `pushi soak` can be given in SOAK_FLAGS (e.g.
# "-storm-sockets 50 -storm-channels 1000"). SOAK_SERVER_BIN runs another
# server binary under the same soak (e.g. an older build, to see an
# attacker bite); the soak tool is always bin/pushi.
set -euo pipefail

cd "$(dirname "$0")/.."
duration=${SOAK_DURATION:-60s}
conns=${SOAK_CONNS:-3000}
start_time=$(date +%s)
server_bin=${SOAK_SERVER_BIN:-bin/pushi}
# Short, so the authenticated slow bodies' 408 comes within the run; the
# soak is told the same value (-body-timeout) to bound it.
body_timeout=3

# Build when missing, or when a source is newer than the binary (a stale
# one may not have the soak subcommand).
if [[ ! -x bin/pushi ]] || [[ -n "$(find cmd internal go.mod go.sum -newer bin/pushi -print -quit)" ]]; then
  echo "soak: building bin/pushi"
  go build -o bin/pushi ./cmd/pushi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pushi-soak.XXXXXX")
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "soak: FAIL: $*"
  if [[ -f "$tmp/server.log" ]]; then
    # One info line per connection open/close/refusal would bury the rest.
    echo "---- last 40 lines of the server log (per-connection lines left out) ----"
    grep -vE '"msg":"connection (open|closed|refused)"' "$tmp/server.log" | tail -n 40 || true
  fi
  exit 1
}

admin_token="soak-admin-token-$(date +%s%N)-0123456789abcdef"
# Thousands of sockets on each side: lift the soft open-file limit.
ulimit -n "$(ulimit -Hn)"

# A free loopback port: random, below the kernel's ephemeral range (a port
# in it may be held by some outgoing connection), and nothing answers on it.
read -r ephemeral_low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || ephemeral_low=32768
pick_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((10000 + RANDOM % (ephemeral_low - 10000)))
    if ! (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# start_server starts pushi on a fresh port and waits until it is ready;
# it returns 2 when the port was taken meanwhile (the caller tries another).
start_server() {
  port=$(pick_port) || fail "no free port found"
  base="http://127.0.0.1:$port"
  # The connection rate (500/s, burst 500) leaves the healthy opens
  # (400/s), churn (~150/s) and malformed clients (20/s) under it, but not
  # the 3 000-attempt flood.
  env PUSHI_APP_ID=soak PUSHI_APP_KEY=soak-key PUSHI_APP_SECRET=soak-secret \
    PUSHI_ADMIN_TOKEN="$admin_token" \
    APP_HOST=127.0.0.1 APP_PORT="$port" SERVER_HOST=127.0.0.1 SERVER_PORT="$port" \
    PUSHI_DB="$tmp/pushi.db" LOG_FORMAT=json LOG_LEVEL=info \
    PUSHI_QUEUE_BYTES=65536 PUSHI_MAX_CONNECTION_RATE=500 PUSHI_DRAIN_WINDOW=1 \
    PUSHI_HTTP_BODY_TIMEOUT="$body_timeout" \
    "$server_bin" >"$tmp/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/health/ready" 2>/dev/null)" == 200 ]]; then
      return 0
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      wait "$server_pid" 2>/dev/null || true
      server_pid=""
      grep -q 'address already in use' "$tmp/server.log" && return 2
      fail "server exited at start"
    fi
    sleep 0.1
  done
  fail "server not ready within 10 s"
}

started=""
for _ in 1 2 3 4 5; do
  rc=0
  start_server || rc=$?
  if [[ "$rc" -eq 0 ]]; then
    started=1
    break
  fi
done
[[ -n "$started" ]] || fail "no free port after 5 tries"
echo "soak: server $server_bin, pid $server_pid on $base, duration $duration, $conns subscribers"

soak_rc=0
# shellcheck disable=SC2086 # SOAK_FLAGS is a list of flags
bin/pushi soak -url "$base" -app-id soak -key soak-key -secret soak-secret \
  -admin-token "$admin_token" -duration "$duration" -conns "$conns" -body-timeout "${body_timeout}s" ${SOAK_FLAGS:-} || soak_rc=$?

# Graceful stop: SIGTERM must end the server with status 0 within 30 s.
kill -TERM "$server_pid"
stopped=""
for _ in $(seq 1 300); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    stopped=1
    break
  fi
  sleep 0.1
done
server_rc=0
if [[ -n "$stopped" ]]; then
  wait "$server_pid" || server_rc=$?
  server_pid=""
fi

result=0
if [[ -z "$stopped" ]]; then
  echo "FAIL  server stops on SIGTERM: still running after 30 s"
  result=1
elif [[ "$server_rc" -ne 0 ]]; then
  echo "FAIL  server stops on SIGTERM: exit status $server_rc"
  result=1
else
  echo "PASS  server stops on SIGTERM: exit status 0"
fi
if grep -qE 'panic|fatal error|DATA RACE' "$tmp/server.log"; then
  echo "FAIL  server log clean: found panic / fatal error / DATA RACE:"
  grep -nE 'panic|fatal error|DATA RACE' "$tmp/server.log" | head -n 20
  result=1
else
  echo "PASS  server log clean: no panic, fatal error or DATA RACE in $(wc -l <"$tmp/server.log") lines"
fi
[[ "$soak_rc" -eq 0 ]] || result=1

elapsed=$(($(date +%s) - start_time))
if [[ "$result" -ne 0 ]]; then
  fail "soak test failed (pushi soak exit $soak_rc, server exit $server_rc) after ${elapsed}s"
fi
echo "soak: PASS in ${elapsed}s (duration $duration, $conns subscribers)"
