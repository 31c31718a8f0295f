#!/usr/bin/env bash
# The whole test suite, as CI runs it: vet, Go unit and integration tests
# under the race detector, bounded fuzzing of every network decoder, the
# hot-path microbenchmarks once (so they cannot rot), a short soak test
# (scripts/soak.sh; SOAK_DURATION and SOAK_CONNS lengthen it), and the Node suite
# that drives the server with the real pusher-js 8.6.0 and pusher 5.3.4.
# It installs what is missing (Node packages) and starts what it needs
# (the server, per test) and stops it afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "gofmt, go vet, staticcheck"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './test/node/*'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted"; exit 1; fi
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

step "import diagram (docs/architecture.md, the imports block)"
go test -count=1 ./internal/archcheck

step "build"
mkdir -p bin
go build -o bin/pushi ./cmd/pushi

step "go test (race detector)"
go test -race -count=1 ./...

step "end-to-end tests again on the MongoDB store (in-process FerretDB)"
PUSHI_TEST_STORE=mongo go test -race -count=1 ./internal/server

# Fuzz budgets are execution counts, not durations: a -fuzztime duration
# races Go 1.26's fuzz coordinator at the deadline and fails with a bare
# "context deadline exceeded" and no input (golang/go#75804, fixed in Go
# 1.27). Counts are sized to a few seconds each here; FUZZ_SCALE multiplies
# them for longer runs on demand (FUZZ_SCALE=20 ./scripts/test.sh).
FUZZ_SCALE=${FUZZ_SCALE:-1}
step "fuzz (execution budgets x$FUZZ_SCALE)"
fuzz() {
  local out
  if out=$(go test -run '^$' -fuzz "^$2\$" -fuzztime "$(($3 * FUZZ_SCALE))x" "$1" 2>&1); then
    echo "ok $2 ($(($3 * FUZZ_SCALE)) execs)"
  else
    printf '%s\n' "$out" | tail -40; echo "FAIL $2"; return 1
  fi
}
fuzz ./internal/protocol FuzzDecodeFrame 200000
fuzz ./internal/protocol FuzzSignedObject 100000
fuzz ./internal/signature FuzzVerify 200000
fuzz ./internal/hub FuzzHandleMessage 30000
fuzz ./internal/hub FuzzConsume 200000
fuzz ./internal/api FuzzTriggerBody 200000
fuzz ./internal/api FuzzAppPatch 20000
fuzz ./internal/api FuzzQuery 15000
fuzz ./internal/api FuzzBatchBody 20000
fuzz ./internal/api FuzzFollowsBody 20000
fuzz ./internal/api FuzzAdminBody 15000

step "microbenchmarks (1x)"
go test -run '^$' -bench . -benchtime=1x -benchmem ./internal/...

step "soak (30 s, 2000 subscribers, churn, slow readers, malformed frames, a connection flood, a channel_vacated storm, slow bodies; loopback)"
SOAK_DURATION=${SOAK_DURATION:-30s} SOAK_CONNS=${SOAK_CONNS:-2000} scripts/soak.sh

step "node suite (pusher-js 8.6.0, pusher 5.3.4)"
if ! command -v npm >/dev/null; then
  apt-get update -qq && apt-get install -y -qq nodejs npm
fi
(cd test/node && { [ -d node_modules/pusher-js ] && [ -d node_modules/pusher ] || npm ci --no-audit --no-fund --loglevel=error; })
(cd test/node && PUSHI_BIN="$PWD/../../bin/pushi" npm test)
