#!/usr/bin/env bash
# `npm run test:kbroker [suite files…]`: the Kafka-facing suites against an independent Kafka broker,
# kbroker (franz-go's kfake, which follows Apache Kafka), one fresh broker per suite file so every
# suite starts from empty topics and groups. A test that passes here and on the embedded broker does
# not pass because of a mistake the service and its own broker share. Redis is each suite's own.
# KBROKER_DIR: where kbroker's start.sh and stop.sh are (default ../shared/kbroker beside the repository).
set -uo pipefail
cd "$(dirname "$0")/.."

dir="${KBROKER_DIR:-../shared/kbroker}"
[ -d "$dir" ] && dir="$(cd "$dir" && pwd -P)"
if [ ! -x "$dir/start.sh" ]; then
  echo "kbroker not found at $dir (set KBROKER_DIR to the folder holding its start.sh)" >&2
  exit 1
fi

if [ $# -gt 0 ]; then
  suites=("$@")
else
  suites=(test/e2e/peer-contract.test.ts test/e2e/presence.test.ts test/e2e/graceful-shutdown.test.ts test/faults/group-takeover.test.ts
    test/e2e/uncommitted-group.test.ts test/e2e/change-stream.test.ts test/e2e/events.test.ts test/e2e/change-topic.test.ts)
  # The platform simulation, when this checkout has it.
  [ -f test/e2e/platform-simulation.test.ts ] && suites+=(test/e2e/platform-simulation.test.ts)
fi

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

passed=0
failed=()
for suite in "${suites[@]}"; do
  port=$(free_port)
  if ! broker=$(PORT=$port "$dir/start.sh"); then
    echo "kbroker did not start on port $port for $suite" >&2
    failed+=("$suite")
    continue
  fi
  echo "== $suite on kbroker $broker"
  # A suite that hangs must not hold CI: 10 minutes is several times the slowest one.
  if KAFKA_BROKERS=$broker timeout 600 npx jest --runInBand "$suite"; then
    passed=$((passed + 1))
  else
    failed+=("$suite")
    echo "kbroker's log: ${TMPDIR:-/tmp}/kbroker-$port.log" >&2
  fi
  PORT=$port "$dir/stop.sh" >/dev/null
done

echo "kbroker pass: ${passed} of ${#suites[@]} suite files passed${failed:+; failed: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
