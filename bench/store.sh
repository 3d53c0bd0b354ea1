#!/usr/bin/env bash
# `linerate store` rows/s beside `psql \copy` of the same rows from a file (the limit of this
# machine), both into the same day's hot partition of a private PostgreSQL 15, alternated
# ROUNDS times in one run; then bytes per event of that day in the hot, warm and cold tiers.
# Events: realistic syslog (sshd, sudo, cron, kernel firewall, postfix, nginx via local7;
# 200 hosts, varying users, addresses and ports) through `linerate parse`.
# Prints JSON and writes bench/results/store-latest.md.
# Usage: bash bench/store.sh [EVENTS] [ROUNDS] [PROFILE: debug|release]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
ROUNDS=${2:-3}
PROFILE=${3:-release}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bash scripts/setup.sh
if [ "$PROFILE" = release ]; then
  cargo build --locked --release --bin linerate --example store_bench 2>&1 | tail -1
else
  cargo build --locked --bin linerate --example store_bench 2>&1 | tail -1
fi
LR=target/$PROFILE/linerate
python3 - "$N" >"$tmp/syslog.txt" <<'PY'
import random, sys
random.seed(16)
n = int(sys.argv[1])
users = ["root", "admin", "oracle", "deploy", "git", "postgres", "ubuntu", "test"] + [f"user{i}" for i in range(40)]
paths = ["/", "/api/v1/orders", "/login", "/static/app.js", "/health", "/api/v1/users/%d", "/search?q=%d"]
for i in range(n):
    t = f"2026-03-02T{(i * 86400 // n) // 3600:02d}:{(i * 86400 // n) % 3600 // 60:02d}:{(i * 86400 // n) % 60:02d}.{random.randrange(1000000):06d}Z"
    host = f"srv-{random.randrange(200):03d}.dc{random.randrange(3)}.example.net"
    ip = f"{random.choice([10, 172, 192, 203])}.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    pid = random.randrange(300, 65000)
    k = random.random()
    if k < 0.30:
        u = random.choice(users)
        ok = random.random() < 0.2
        msg = f"{'Accepted' if ok else 'Failed'} password for {'' if ok else 'invalid user '}{u} from {ip} port {random.randrange(1024, 65535)} ssh2"
        line = f"<{4*8 + (6 if ok else 4)}>1 {t} {host} sshd {pid} - - {msg}"
    elif k < 0.40:
        u = random.choice(users)
        line = f"<{10*8 + 5}>1 {t} {host} sudo {pid} - - {u} : TTY=pts/{random.randrange(8)} ; PWD=/home/{u} ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx"
    elif k < 0.50:
        line = f"<{9*8 + 6}>1 {t} {host} CRON {pid} - - (root) CMD (/usr/local/bin/backup.sh --incremental > /dev/null 2>&1)"
    elif k < 0.70:
        line = f"<{0*8 + 4}>1 {t} {host} kernel - - - [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC={ip} DST=10.0.0.{random.randrange(1, 255)} LEN={random.randrange(40, 1500)} TOS=0x00 PREC=0x00 TTL={random.randrange(30, 128)} ID={random.randrange(65535)} PROTO=TCP SPT={random.randrange(1024, 65535)} DPT={random.choice([22, 23, 80, 443, 3389, 5432])} WINDOW=1024 RES=0x00 SYN URGP=0"
    elif k < 0.80:
        qid = "%010X" % random.randrange(1 << 40)
        line = f"<{2*8 + 6}>1 {t} {host} postfix/smtpd {pid} - - {qid}: client=mail-{random.randrange(99)}.example.org[{ip}], sasl_method=PLAIN, sasl_username={random.choice(users)}@example.net"
    else:
        p = random.choice(paths)
        if "%d" in p:
            p = p % random.randrange(100000)
        line = f"<{23*8 + 6}>1 {t} {host} nginx {pid} - - {ip} - - \"GET {p} HTTP/1.1\" {random.choice([200, 200, 200, 301, 404, 500])} {random.randrange(100, 50000)} \"-\" \"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\""
    print(line)
PY
"$LR" parse --year 2026 "$tmp/syslog.txt" >"$tmp/events.ndjson"
out=$(target/$PROFILE/examples/store_bench "$(pwd)/$LR" "$tmp/events.ndjson" "$ROUNDS")
echo "$out"
python3 - "$out" "$PROFILE" >bench/results/store-latest.md <<'PY'
import json, sys
r = json.loads(sys.argv[1])
f = lambda v: ", ".join(f"{x:,.0f}" for x in v)
print(f"# linerate store vs psql \\copy ({sys.argv[2]} build, {r['events']:,} realistic syslog events, "
      f"{r['json_bytes_per_event']:.0f} B of JSON each)\n")
print("| measurement | value |\n| --- | --- |")
print(f"| linerate store, rows/s (each round) | {f(r['store_rows_per_s'])} |")
print(f"| psql \\copy of the same rows, rows/s (each round) | {f(r['psql_copy_rows_per_s'])} |")
print(f"| store / psql \\copy (medians) | {r['store_over_psql_copy']:.2f} |")
print(f"| hot tier, bytes per event | {r['hot_bytes_per_event']:.0f} |")
print(f"| warm tier, bytes per event | {r['warm_bytes_per_event']:.0f} |")
print(f"| cold tier, bytes per event | {r['cold_bytes_per_event']:.0f} |")
print(f"| hot / warm | {r['hot_over_warm']:.2f} |")
PY
cat bench/results/store-latest.md
