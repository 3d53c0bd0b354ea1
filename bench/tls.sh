#!/usr/bin/env bash
# Syslog over TLS against plain TCP, one run, one appliance: the same `linerate loadgen`
# (4 connections, 256-byte RFC 5424 messages, octet-counted) sends COUNT messages to the plain
# TCP listener (the baseline) and COUNT to the TLS listener (mutual TLS, a client certificate
# made here by openssl), after a warm-up of COUNT/4 plain messages, alternating plain, TLS
# for ROUNDS rounds (default 3); each phase is timed from its first send to Kafka
# acknowledging its last event (linerate_events_delivered_total on logs.normalized), with
# the appliance's CPU seconds over the phase and its shard threads' alone (with the default
# layout on 2 CPUs, the one shard is the bound); each transport's best phase is kept (its
# capacity: the 2-core box is shared and noisy) and every phase is printed. Prints a markdown
# table with the TLS/plain ratios and writes it to bench/results/tls-latest.md.
# Usage: bash bench/tls.sh [COUNT]    (LR=path/to/linerate SKIP_BUILD=1 to use another build)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-5800}
TLS_PORT=${TLS_PORT:-5801}
HTTP_PORT=${HTTP_PORT:-9800}
LR=${LR:-target/release/linerate}
TICK=$(getconf CLK_TCK)
tmp=$(mktemp -d)
data=$(pwd)/target/bench-tls-data
app=
cleanup() { [ -n "$app" ] && kill -9 "$app" 2>/dev/null || true; rm -rf "$tmp" "$data"; }
trap cleanup EXIT

bash scripts/setup.sh
if [ "${SKIP_BUILD:-}" != 1 ]; then
  cargo build --locked --release --bin linerate 2>&1 | tail -1
fi

# A CA, the server's certificate (localhost) and a client certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=bench CA" \
  -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
leaf() { # name cn extension
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$tmp/$1.key" -out "$tmp/$1.csr" 2>/dev/null
  printf '%s\n' "$3" > "$tmp/$1.ext"
  openssl x509 -req -in "$tmp/$1.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial \
    -days 2 -extfile "$tmp/$1.ext" -out "$tmp/$1.pem" 2>/dev/null
}
leaf server localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf client bench-client "subjectAltName=DNS:bench-client
extendedKeyUsage=clientAuth"

# Shards: the default layout (one shard per CPU but a quarter, at least one, left to
# librdkafka's threads).
cat > "$tmp/lr.toml" <<TOML
[syslog]
udp_listen = ""
tcp_listen = "127.0.0.1:$PORT"
tls_listen = "127.0.0.1:$TLS_PORT"
tls_cert_file = "$tmp/server.pem"
tls_key_file = "$tmp/server.key"
tls_client_ca_file = "$tmp/ca.pem"
[kafka]
brokers = "embedded"
raw_enabled = false
[http]
listen = "127.0.0.1:$HTTP_PORT"
[stats]
interval_ms = 100
[buffer]
data_dir = "$data"
ring_bytes_max = 536870912
TOML
rm -rf "$data"
LINERATE_LOG=warn NO_COLOR=1 "$LR" run --config "$tmp/lr.toml" > /dev/null 2> "$tmp/lr.log" &
app=$!
for _ in $(seq 300); do curl -sf "127.0.0.1:$HTTP_PORT/health" > /dev/null && break; sleep 0.1; done

now() { date +%s.%N; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
shard_ticks() { # the shards' threads only (the bound: one shard on a 2-CPU box)
  local t s=0
  for t in /proc/"$app"/task/*; do
    if grep -q '^shard-' "$t/comm" 2>/dev/null; then
      s=$((s + $(sed 's/.*) //' "$t/stat" | awk '{print $12 + $13}')))
    fi
  done
  echo "$s"
}
delivered() {
  curl -s "127.0.0.1:$HTTP_PORT/metrics" | grep '^linerate_events_delivered_total{' \
    | grep -F 'topic="logs.normalized"' | awk '{s += $2} END {printf "%d", s}'
}

phase() { # name target-port extra-loadgen-args...
  local name=$1 port=$2; shift 2
  local base t0 c0 s0 t1 c1 s1 want
  base=$(delivered); want=$((base + N))
  t0=$(now); c0=$(cpu_ticks "$app"); s0=$(shard_ticks)
  "$LR" loadgen --target "127.0.0.1:$port" --transport tcp --connections 4 --size 256 \
    --framing octet --count "$N" --json "$@" > "$tmp/$name.json"
  while [ "$(delivered)" -lt "$want" ]; do sleep 0.05; done
  t1=$(now); c1=$(cpu_ticks "$app"); s1=$(shard_ticks)
  python3 -c "import sys; n,t0,t1,c0,c1,s0,s1,tick=map(float,sys.argv[1:]); s=t1-t0; print(f'{n/s:.0f} {(c1-c0)/tick/n*1e6:.2f} {(s1-s0)/tick/n*1e6:.2f}')" \
    "$N" "$t0" "$t1" "$c0" "$c1" "$s0" "$s1" "$TICK"
}

tls_args=(--tls-ca "$tmp/ca.pem" --tls-cert "$tmp/client.pem" --tls-key "$tmp/client.key")
full=$N; N=$((full / 4)); phase warmup "$PORT" > /dev/null; N=$full
best() { # "rate cpu shard-cpu" lines on stdin: the highest rate, the lowest CPUs per event
  python3 -c "import sys; r=[l.split() for l in sys.stdin if l.strip()]; print(max(float(a) for a,_,_ in r), min(float(b) for _,b,_ in r), min(float(c) for _,_,c in r))"
}
runs_plain=(); runs_tls=()
for _ in $(seq "$ROUNDS"); do
  runs_plain+=("$(phase plain "$PORT")")
  runs_tls+=("$(phase tls "$TLS_PORT" "${tls_args[@]}")")
done
read -r plain_rate plain_cpu plain_shard < <(printf '%s\n' "${runs_plain[@]}" | best)
read -r tls_rate tls_cpu tls_shard < <(printf '%s\n' "${runs_tls[@]}" | best)
handshakes=$(curl -s "127.0.0.1:$HTTP_PORT/metrics" | grep '^linerate_tls_handshakes_total{' | awk '{s += $2} END {printf "%d", s}')
[ "$handshakes" -ge $((4 * ROUNDS)) ] || { echo "expected $((4 * ROUNDS)) TLS handshakes, metrics say $handshakes" >&2; exit 1; }

mkdir -p bench/results
{
  echo "| $N messages, 4 connections, 256 B | events/s to Kafka ack | linerate CPU µs/event | shard threads' CPU µs/event |"
  echo "| --- | --- | --- | --- |"
  echo "| plain TCP (baseline) | ${plain_rate%.*} | $plain_cpu | $plain_shard |"
  echo "| TLS 1.3, mutual | ${tls_rate%.*} | $tls_cpu | $tls_shard |"
  python3 -c "import sys; pr,pc,ps,tr,tc,ts=map(float,sys.argv[1:]); print(f'| TLS / plain | {tr/pr:.2f}x | {tc/pc:.2f}x | {ts/ps:.2f}x |')" \
    "$plain_rate" "$plain_cpu" "$plain_shard" "$tls_rate" "$tls_cpu" "$tls_shard"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $LR; runs (events/s, µs/event, shard µs/event): plain ${runs_plain[*]}; TLS ${runs_tls[*]}"
} | tee bench/results/tls-latest.md
