#!/usr/bin/env bash
# Runs the same load scenarios (pushi bench) against soketi 1.6.1 and pushi,
# one after the other on this machine, with the same parameters, and prints
# one table: scenario, metric, soketi, pushi, ratio pushi/soketi. Every raw
# result (one JSON object per run) goes to $RESULTS.
#
#   scripts/bench-compare.sh                       # defaults below, < 10 minutes
#   FANOUT_SUBS=1000 CONNS_N=2000 scripts/bench-compare.sh   # smaller
#   scripts/bench-compare.sh --table results.jsonl             # table of an earlier run
#
# Each scenario gets a freshly started server (so RSS figures start clean);
# the server is stopped (its whole process group) right after, and on exit.
# Everything runs on loopback; the load tool refuses anything else.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED_DIR=${SHARED_DIR:-$(cd "$ROOT/../shared" 2>/dev/null && pwd || echo /work/shared)}
SOKETI_SH=$SHARED_DIR/bench/soketi.sh

SERVERS=${SERVERS:-"soketi pushi"}
SCENARIOS=${SCENARIOS:-"fanout many-channels saturate saturate-many conns presence"}
RESULTS=${RESULTS:-$ROOT/bin/bench-results-$(date -u +%Y%m%dT%H%M%SZ).jsonl} # bin/ is git-ignored
TABLE=${TABLE:-key} # key | all
SOKETI_PORT=${SOKETI_PORT:-6001}
PUSHI_PORT=${PUSHI_PORT:-6002}

# Scenario sizes (modest defaults for a small machine; every step is bounded).
CONNECT_RATE=${CONNECT_RATE:-2000}
FANOUT_SUBS=${FANOUT_SUBS:-10000}      # all on one channel
FANOUT_RATE=${FANOUT_RATE:-5}          # publishes/s → FANOUT_SUBS×rate deliveries/s
FANOUT_DURATION=${FANOUT_DURATION:-10s}
MANY_CONNS=${MANY_CONNS:-10000}        # each on its own channel
MANY_RATE=${MANY_RATE:-500}
MANY_DURATION=${MANY_DURATION:-10s}
SAT_SUBS=${SAT_SUBS:-10000}            # one channel (the fan-out knee target)
SAT_START=${SAT_START:-2}
SAT_FACTOR=${SAT_FACTOR:-1.5}
SAT_STEPS=${SAT_STEPS:-10}
SAT_STEP=${SAT_STEP:-5s}
# One publish to 10 000 sockets takes longer than 100 ms to reach the last
# one on a 2-core machine shared with the tool, for soketi and pushi alike,
# so the one-channel knee is judged against a 1 s p99.
SAT_MAX_P99=${SAT_MAX_P99:-1s}
SATMANY_MAX_P99=${SATMANY_MAX_P99:-100ms}
SATMANY_STEPS=${SATMANY_STEPS:-14}
SATMANY_CONNS=${SATMANY_CONNS:-10000}  # each on its own channel (the many-channels knee target)
SATMANY_START=${SATMANY_START:-200}
CONNS_N=${CONNS_N:-20000}
CONNS_CHANNELS=${CONNS_CHANNELS:-100}
CONNS_HOLD=${CONNS_HOLD:-5s}
PRESENCE_MEMBERS=${PRESENCE_MEMBERS:-500}
PRESENCE_RATE=${PRESENCE_RATE:-50}
PRESENCE_CHANNELS=${PRESENCE_CHANNELS:-5}

# Both servers and the tool get the hard file-descriptor limit (node does
# not raise it by itself). One process cannot hold more sockets than that.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
hard=$(ulimit -n)
if [ "$hard" != unlimited ] && [ "$CONNS_N" -gt $((hard - 200)) ]; then
  echo "note: CONNS_N=$CONNS_N lowered to $((hard - 200)) (RLIMIT_NOFILE hard limit $hard)" >&2
  CONNS_N=$((hard - 200))
fi
for v in FANOUT_SUBS MANY_CONNS SAT_SUBS SATMANY_CONNS; do
  if [ "$hard" != unlimited ] && [ "${!v}" -gt $((hard - 200)) ]; then
    echo "note: $v=${!v} lowered to $((hard - 200)) (RLIMIT_NOFILE)" >&2
    printf -v "$v" '%s' $((hard - 200))
  fi
done

command -v jq >/dev/null || { echo "jq is required" >&2; exit 1; }

print_table() { # results.jsonl → table on stdout
  jq -rs --arg table "$TABLE" '
    def key: {
      "fanout": ["subscribed","deliveries_per_s","loss_pct","latency_p50_ms","latency_p90_ms","latency_p99_ms","latency_max_ms","publish_rate_achieved","publish_http_p50_ms","publish_http_p99_ms","publish_errors","server_cpu_core_pct","tool_cpu_core_pct","server_rss_after_mib"],
      "saturate": ["steps_run","knee_publishes_per_s","knee_deliveries_per_s","knee_latency_p50_ms","knee_latency_p99_ms","knee_server_cpu_core_pct","knee_tool_cpu_core_pct"],
      "conns": ["connected","subscribe_failures","connect_rate_achieved","handshake_p50_ms","handshake_p99_ms","subscribe_p99_ms","server_rss_after_mib","server_bytes_per_conn","dropped_during_hold","tool_cpu_core_pct"],
      "presence": ["joins_ok","join_failures","join_p50_ms","join_p99_ms","member_added_missed","member_removed_missed","member_added_p99_ms","member_removed_p99_ms","tool_cpu_core_pct"]
    };
    def fmt: if . == null then "-" elif type == "number" then (. * 1000 | round / 1000 | tostring) else tostring end;
    . as $all
    | (["scenario","metric","soketi","pushi","pushi/soketi"] | @tsv),
      ($all | map(.compare) | reduce .[] as $c ([]; if index([$c]) then . else . + [$c] end))[] as $c
      | ($all | map(select(.compare == $c))) as $runs
      | ($runs | map(select(.server == "soketi")) | .[0]) as $s
      | ($runs | map(select(.server == "pushi")) | .[0]) as $p
      | ($runs[0].scenario) as $kind
      | (if $table == "all" then ([$runs[].metrics | keys_unsorted[]] | reduce .[] as $k ([]; if index([$k]) then . else . + [$k] end))
         else key[$kind] end) as $metrics
      | ($metrics[] as $m
          | ($s.metrics[$m]) as $sv | ($p.metrics[$m]) as $pv
          | [$c, $m, ($sv | fmt), ($pv | fmt),
             (if ($sv | type) == "number" and ($pv | type) == "number" and $sv != 0 then ($pv / $sv * 100 | round / 100 | tostring) else "-" end)]),
        (if ($s.error // $p.error) then [$c, "error", ($s.error // "-"), ($p.error // "-"), "-"] else empty end)
    | @tsv'  "$1" | column -t -s $'\t'
}

if [ "${1:-}" = "--table" ]; then # re-print the table of an earlier run
  print_table "${2:?usage: $0 --table results.jsonl}"
  exit 0
fi

step() { printf '\n== %s\n' "$*" >&2; }

step "build"
mkdir -p bin
go build -o bin/pushi ./cmd/pushi
BENCH=$ROOT/bin/pushi

if [[ " $SERVERS " == *" soketi "* ]]; then
  if [ ! -f "${SOKETI_DIR:-$HOME/.cache/pushi-peers/soketi}/node_modules/@soketi/soketi/bin/server.js" ]; then
    step "install soketi"
    "$SOKETI_SH" install
  fi
fi

set -m # background jobs get their own process group: kill -- -PID stops all of it
SERVER_PID=
BENCH_PID=
LOGDIR=$(mktemp -d)

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.2
  done
  kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}
cleanup() {
  if [ -n "$BENCH_PID" ]; then
    kill -TERM -- "-$BENCH_PID" 2>/dev/null || true
    wait "$BENCH_PID" 2>/dev/null || true
  fi
  stop_server
  rm -rf "$LOGDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {
  for _ in $(seq 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

start_server() { # name → sets SERVER_PID and PORT
  case $1 in
  soketi)
    PORT=$SOKETI_PORT
    "$SOKETI_SH" start "$PORT" >"$LOGDIR/soketi.log" 2>&1 &
    ;;
  pushi)
    PORT=$PUSHI_PORT
    PUSHI_APP_ID=app-id PUSHI_APP_KEY=app-key PUSHI_APP_SECRET=app-secret \
      APP_PORT=$PORT SERVER_PORT=$PORT LOG_LEVEL=warn PUSHI_DB="$LOGDIR/pushi.db" PUSHI_MAX_CONNECTION_RATE=0 \
      "$BENCH" >"$LOGDIR/pushi.log" 2>&1 &
    ;;
  esac
  SERVER_PID=$!
  if ! wait_port "$PORT"; then
    echo "$1 did not start; log:" >&2
    tail -20 "$LOGDIR/$1.log" >&2
    stop_server
    return 1
  fi
  sleep 1 # let it finish initialising (soketi logs after listening)
}

args_for() { # scenario name → bench arguments
  case $1 in
  fanout) echo "fanout -subscribers $FANOUT_SUBS -channels 1 -rate $FANOUT_RATE -duration $FANOUT_DURATION" ;;
  many-channels) echo "fanout -subscribers $MANY_CONNS -channels $MANY_CONNS -rate $MANY_RATE -duration $MANY_DURATION" ;;
  saturate) echo "saturate -subscribers $SAT_SUBS -channels 1 -start $SAT_START -factor $SAT_FACTOR -max-steps $SAT_STEPS -step-duration $SAT_STEP -max-p99 $SAT_MAX_P99" ;;
  saturate-many) echo "saturate -subscribers $SATMANY_CONNS -channels $SATMANY_CONNS -start $SATMANY_START -factor $SAT_FACTOR -max-steps $SATMANY_STEPS -step-duration $SAT_STEP -max-p99 $SATMANY_MAX_P99" ;;
  conns) echo "conns -n $CONNS_N -channels $CONNS_CHANNELS -hold $CONNS_HOLD" ;;
  presence) echo "presence -members $PRESENCE_MEMBERS -channels $PRESENCE_CHANNELS -rate $PRESENCE_RATE" ;;
  *) echo "unknown scenario $1" >&2; return 1 ;;
  esac
}

: >"$RESULTS"
for server in $SERVERS; do
  for sc in $SCENARIOS; do
    step "$server: $sc"
    start_server "$server" || continue
    # In the background + wait, so that a signal to this script is handled
    # at once (bash runs traps only between foreground commands).
    # shellcheck disable=SC2046
    "$BENCH" bench $(args_for "$sc") -connect-rate "$CONNECT_RATE" \
      -ws "ws://127.0.0.1:$PORT" -api "http://127.0.0.1:$PORT" \
      -app-id app-id -key app-key -secret app-secret \
      -server-pid "$SERVER_PID" -label "$server" -json >"$LOGDIR/out.json" &
    BENCH_PID=$!
    wait "$BENCH_PID" || true
    BENCH_PID=
    out=$(cat "$LOGDIR/out.json")
    stop_server
    if [ -z "$out" ]; then
      echo "no result from $server $sc" >&2
      continue
    fi
    jq -c --arg c "$sc" --arg s "$server" '. + {compare: $c, server: $s}' <<<"$out" >>"$RESULTS"
    jq -r '(.error // empty | "error: " + .), (.notes // [] | .[] | "note: " + .)' <<<"$out" >&2
  done
done

step "results ($RESULTS)"
print_table "$RESULTS"
echo >&2
echo "raw results: $RESULTS (ratio > 1: pushi higher; for latency, memory and CPU lower is better)" >&2
