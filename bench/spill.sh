#!/usr/bin/env bash
# Spill write throughput beside the disk's raw O_DIRECT sequential write bandwidth, in one
# run, on the same disk (the repository's, under target/):
#   (a) dd if=/dev/zero oflag=direct bs=256K: what the disk takes, sequential, no CPU work;
#   (b) linerate's spill writer: realistic 300-byte events framed as the ring holds them,
#       zstd level 1 into 256 KiB blocks with crcs, written O_DIRECT through io_uring.
# Both write the same number of bytes of input. Prints a markdown table and writes it to
# bench/results/spill-latest.md.
# Usage: bash bench/spill.sh [MIB]
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-1024}
dir=$(pwd)/target/bench-spill
mkdir -p "$dir" bench/results
trap 'rm -rf "$dir"' EXIT
cargo build --locked --release --example spill_bench 2>&1 | tail -1

sync
dd_out=$(dd if=/dev/zero of="$dir/dd.bin" bs=256K count=$((MIB * 4)) oflag=direct conv=fsync 2>&1 | tail -1)
dd_bytes=$(echo "$dd_out" | awk '{print $1}')
dd_secs=$(echo "$dd_out" | sed -E 's/.*, ([0-9.]+) s,.*/\1/')
rm -f "$dir/dd.bin"
sync

sp=$(target/release/examples/spill_bench "$dir/spill" "$MIB" 1)
py() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print($2)" "$sp"; }
ev_mbs=$(py "$sp" "round(d['event_bytes']/d['seconds']/1e6,1)")
disk_mbs=$(py "$sp" "round(d['disk_bytes']/d['seconds']/1e6,1)")
ratio=$(py "$sp" "round(d['event_bytes']/d['disk_bytes'],2)")
evs=$(py "$sp" "round(d['events']/d['seconds']/1e6,2)")
dd_mbs=$(python3 -c "print(round($dd_bytes/$dd_secs/1e6,1))")
vs_dd=$(python3 -c "print(round(100*$ev_mbs/$dd_mbs))")
disk_vs_dd=$(python3 -c "print(round(100*$disk_mbs/$dd_mbs))")
table="| measurement ($MIB MiB of events, same disk, same run) | MB/s | vs dd |
|---|---:|---:|
| dd oflag=direct bs=256K (raw sequential write) | $dd_mbs | 100% |
| spill: events moved out of the ring | $ev_mbs ($evs M events/s) | $vs_dd% |
| spill: bytes written to disk (zstd ratio $ratio) | $disk_mbs | $disk_vs_dd% |"
echo "$table"
{ echo "# bench/spill.sh, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"; echo; echo "$table"; } > bench/results/spill-latest.md
