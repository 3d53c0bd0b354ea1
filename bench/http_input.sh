#!/usr/bin/env bash
# The HTTP input's request rate, two linerate binaries in one run (issue 12: the hand-written
# HTTP/1.1 server replaced by hyper on glommio): each is started in turn (2 shards, embedded
# Kafka, the HTTP input on loopback) and fed by the same load client (bench/http_load.rs:
# CONNECTIONS keep-alive connections posting the 5-record Azure sample back to back), rounds
# alternating so drift hits both alike. Prints requests/s answered 200 and server CPU per
# request for each, and the ratio NEW/OLD.
# Usage: bash bench/http_input.sh OLD_BINARY NEW_BINARY [ROUNDS] [SECONDS] [CONNECTIONS]
# (build both the same way, e.g. `cargo build --release --bin linerate` on each commit).
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$1 NEW=$2 ROUNDS=${3:-3} SECS=${4:-8} CONNS=${5:-4}
PORT=5810 HTTP_PORT=5811 INPUT_PORT=5812
TICK=$(getconf CLK_TCK)
BODY=tests/data/samples/cloud/azure/activitylog-eventhub-records.json
tmp=$(mktemp -d)
data=$(pwd)/target/bench-http-data
pid=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true; rm -rf "$tmp" "$data"; }
trap cleanup EXIT
cargo build --example http_load 2>&1 | tail -1
LOAD=target/debug/examples/http_load

run() { # binary → "requests_per_second cpu_us_per_request"
  rm -rf "$data"; mkdir -p "$data"
  cat > "$tmp/lr.toml" <<TOML
[shards]
count = 2
[syslog]
udp_listen = ""
tcp_listen = "127.0.0.1:$PORT"
[http]
listen = "127.0.0.1:$HTTP_PORT"
[http_input]
listen = "127.0.0.1:$INPUT_PORT"
[buffer]
data_dir = "$data"
ring_bytes_max = 268435456
TOML
  LINERATE_LOG=error "$1" run --config "$tmp/lr.toml" > /dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf "127.0.0.1:$HTTP_PORT/health" > /dev/null && break; sleep 0.2; done
  local t0 t1 out
  t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  out=$("$LOAD" "$INPUT_PORT" /azure "$BODY" "$CONNS" "$SECS")
  t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill -TERM "$pid"; wait "$pid" || true; pid=""
  python3 -c "import json,sys; o=json.loads(sys.argv[1]); t=(int(sys.argv[3])-int(sys.argv[2]))/int(sys.argv[4]); print(f\"{o['requests_per_second']} {t/max(o['ok'],1)*1e6:.1f} {o['other']}\")" "$out" "$t0" "$t1" "$TICK"
}

echo "| round | binary | requests/s (200) | server CPU µs/request | non-200 |"
echo "| --- | --- | --- | --- | --- |"
old_sum=0 new_sum=0
for r in $(seq "$ROUNDS"); do
  for which in old new; do
    bin=$OLD; [ "$which" = new ] && bin=$NEW
    read -r rps cpu other < <(run "$bin")
    echo "| $r | $which | $rps | $cpu | $other |"
    if [ "$which" = old ]; then old_sum=$((old_sum + rps)); else new_sum=$((new_sum + rps)); fi
  done
done
python3 -c "import sys; o,n=map(int,sys.argv[1:]); print(f'\nnew/old requests/s over {sys.argv[0] if False else \"all rounds\"}: {n/o:.2f}')" "$old_sum" "$new_sum"
