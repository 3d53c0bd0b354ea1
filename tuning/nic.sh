#!/usr/bin/env bash
# NIC set-up for linerate: the largest receive rings, one RSS queue per shard, each queue's
# interrupt on its shard's core (so a datagram's softirq runs where the shard reads it), and
# interrupt coalescing for the chosen profile.
#
# Prints every command it would run; runs them only with --apply (as root). On a NIC without
# queues to spread (a single-queue virtio NIC, no ethtool) it says so and exits 0 in a dry run.
#
#   tuning/nic.sh --iface eth0 --layout shards/single-socket-16.toml
#   tuning/nic.sh --iface eth0 --cores 4-15 --profile low-latency --apply
#
# Not done here, on purpose: stopping irqbalance (it moves interrupts back; the script warns
# when it runs), RPS/XPS (RSS already spreads the receive work), and matching each queue to its
# shard's socket (SO_REUSEPORT spreads by its own hash, so a datagram may be read by another
# shard than the one whose core took its interrupt).
set -euo pipefail

usage() {
    cat <<'EOF'
usage: tuning/nic.sh --iface IFACE (--layout FILE | --cores LIST) [--profile throughput|low-latency]
                     [--ring N] [--apply]
  --iface IFACE      the NIC that receives the syslog traffic
  --layout FILE      a shards/ layout: its [shards] cores (or count) give the queues and cores
  --cores LIST       the shards' cores instead, as a CPU list (0-3,8)
  --profile NAME     coalescing: throughput (adaptive) or low-latency (8 µs, fixed); default throughput
  --ring N           receive ring descriptors (default: the hardware maximum)
  --apply            run the commands (default: print them only)
EOF
}

die() {
    echo "nic.sh: $*" >&2
    exit 2
}

iface=""
layout=""
cores_arg=""
profile="throughput"
ring=""
apply=0
while (($#)); do
    case "$1" in
    --iface) iface="${2:?--iface needs a value}"; shift 2 ;;
    --layout) layout="${2:?--layout needs a file}"; shift 2 ;;
    --cores) cores_arg="${2:?--cores needs a list}"; shift 2 ;;
    --profile) profile="${2:?--profile needs a name}"; shift 2 ;;
    --ring) ring="${2:?--ring needs a number}"; shift 2 ;;
    --apply) apply=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ -n "$iface" ]] || { usage >&2; die "--iface is required"; }
[[ -n "$layout" || -n "$cores_arg" ]] || { usage >&2; die "--layout or --cores is required"; }
[[ -z "$layout" || -z "$cores_arg" ]] || die "--layout and --cores exclude each other"
[[ -z "$ring" || "$ring" =~ ^[0-9]+$ ]] || die "--ring: not a number: $ring"
case "$profile" in throughput | low-latency) ;; *) die "--profile: throughput or low-latency, not $profile" ;; esac
[[ -d "/sys/class/net/$iface" ]] || die "no interface $iface (see: ip -br link)"

# "0-3,8" -> "0 1 2 3 8"
expand_cpu_list() {
    local part out=()
    IFS=',' read -ra parts <<<"$1"
    for part in "${parts[@]}"; do
        part="${part// /}"
        [[ -z "$part" ]] && continue
        if [[ "$part" =~ ^([0-9]+)-([0-9]+)$ ]]; then
            for ((c = BASH_REMATCH[1]; c <= BASH_REMATCH[2]; c++)); do out+=("$c"); done
        elif [[ "$part" =~ ^[0-9]+$ ]]; then
            out+=("$part")
        else
            die "not a CPU list: $1"
        fi
    done
    echo "${out[@]}"
}

# The [shards] cores of a layout (a one-line `cores = [...]`), else 0..count-1.
layout_cores() {
    [[ -f "$1" ]] || die "no layout file $1"
    local section="" line key value
    local cores="" count=""
    while IFS= read -r line; do
        line="${line%%#*}"
        if [[ "$line" =~ ^[[:space:]]*\[([^]]+)\] ]]; then
            section="${BASH_REMATCH[1]}"
            continue
        fi
        [[ "$section" == "shards" && "$line" == *=* ]] || continue
        key="${line%%=*}"; key="${key//[[:space:]]/}"
        value="${line#*=}"
        case "$key" in
        cores)
            [[ "$value" == *"]"* ]] || die "$1: write [shards] cores on one line"
            value="${value//[\[\][:space:]]/}"
            cores="${value}"
            ;;
        count) count="${value//[[:space:]]/}" ;;
        esac
    done <"$1"
    if [[ -n "$cores" ]]; then
        expand_cpu_list "$cores"
    elif [[ -n "$count" && "$count" != 0 ]]; then
        seq -s ' ' 0 $((count - 1))
    else
        die "$1: no [shards] cores or count (count = 0 means one shard per CPU: list the cores)"
    fi
}

if [[ -n "$layout" ]]; then
    read -ra cores <<<"$(layout_cores "$layout")"
else
    read -ra cores <<<"$(expand_cpu_list "$cores_arg")"
fi
shards=${#cores[@]}
((shards > 0)) || die "no cores"

# Each receive queue's interrupt, in queue order: "QUEUE IRQ NAME" lines. Interrupts are
# those of the NIC's PCI function (msi_irqs of the device or of its parent, for virtio) or
# named after the interface; receive queues are named ...TxRx-N, ...rx-N, ...input.N (virtio),
# ...compN (mlx5).
queue_irqs() {
    local dev="/sys/class/net/$iface/device" irqs="" d
    for d in "$dev" "$dev/.."; do
        if [[ -d "$d/msi_irqs" ]]; then
            irqs="$(find "$d/msi_irqs" -mindepth 1 -maxdepth 1 -printf '%f ')"
            break
        fi
    done
    awk -v iface="$iface" -v irqs=" $irqs " '
        $1 ~ /^[0-9]+:$/ {
            irq = substr($1, 1, length($1) - 1); name = $NF
            mine = index(irqs, " " irq " ") > 0 || index(name, iface "-") == 1 || index(name, "-" iface "-") > 0
            if (mine && match(name, /(TxRx|[Rr]x|input|comp)[-_.]?[0-9]+/)) {
                q = substr(name, RSTART, RLENGTH); gsub(/[^0-9]/, "", q)
                print q, irq, name
            }
        }' /proc/interrupts | sort -n -k1,1
}

failed=0
# Print a command; run it too with --apply (a failure is reported, the rest still runs).
run() {
    if ((apply)); then
        echo "+ $*"
        "$@" || { echo "nic.sh: failed: $*" >&2; failed=1; }
    else
        echo "would run: $*"
    fi
}

# Print a write of VALUE into FILE; do it with --apply.
write_file() {
    if ((apply)); then
        echo "+ echo $1 > $2"
        echo "$1" >"$2" || { echo "nic.sh: failed: echo $1 > $2" >&2; failed=1; }
    else
        echo "would run: echo $1 > $2"
    fi
}

driver="$(basename "$(readlink -f "/sys/class/net/$iface/device/driver" 2>/dev/null || echo none)")"
rx_queues=$(find "/sys/class/net/$iface/queues" -maxdepth 1 -name 'rx-*' 2>/dev/null | wc -l)
mode="dry run: nothing is changed, --apply runs these"
((apply)) && mode="applying"
echo "nic.sh: $iface (driver $driver, receive queues now: $rx_queues), $shards shards on cores ${cores[*]}, profile $profile ($mode)"

if ((apply)) && [[ $EUID -ne 0 ]]; then
    die "--apply needs root"
fi

have_ethtool=0
command -v ethtool >/dev/null && have_ethtool=1
ring_max="" channels_max="" channel_kind="combined"
if ((have_ethtool)); then
    # The "Pre-set maximums" block comes first in both outputs.
    ring_max="$(ethtool -g "$iface" 2>/dev/null | awk '/^RX:/ {print $2; exit}')" || true
    chan="$(ethtool -l "$iface" 2>/dev/null)" || true
    combined_max="$(awk '/^Combined:/ {print $2; exit}' <<<"$chan")"
    rx_max="$(awk '/^RX:/ {print $2; exit}' <<<"$chan")"
    if [[ "$combined_max" =~ ^[1-9][0-9]*$ ]]; then
        channels_max="$combined_max"
    elif [[ "$rx_max" =~ ^[1-9][0-9]*$ ]]; then
        channels_max="$rx_max"
        channel_kind="rx"
    fi
    echo "$iface: hardware maxima: rx ring ${ring_max:-unknown}, $channel_kind channels ${channels_max:-unknown}"
else
    echo "$iface: ethtool is not installed (apt-get install ethtool): the hardware maxima are unknown"
fi

# A NIC with one queue and no ethtool (a virtio NIC without multiqueue, as on a development
# VM) has nothing to spread: say so, print the plan a multi-queue NIC would get, change nothing.
spreadable=1
if ((rx_queues <= 1)) && { ((!have_ethtool)) || [[ -z "$channels_max" || "$channels_max" -le 1 ]]; }; then
    spreadable=0
    echo "nic.sh: $iface has no receive queues to spread ($rx_queues queue, channels ${channels_max:-unknown}): nothing to apply on this NIC"
    ((apply)) && die "refusing --apply on $iface: nothing to spread"
    echo "nic.sh: what a multi-queue NIC would get:"
fi

# 1. Ring size: more descriptors hold a burst while the shard's core is busy; they only add
#    delay when the queue is already backed up, where the alternative is a drop.
ring_target="${ring:-${ring_max:-}}"
if [[ -n "$ring_target" && "$ring_target" != "n/a" ]]; then
    run ethtool -G "$iface" rx "$ring_target"
else
    echo "skip: ethtool -G $iface rx <max> (the maximum is unknown: pass --ring N)"
fi

# 2. One receive queue per shard, so the NIC's RSS hash spreads flows over exactly the shards.
if [[ -n "$channels_max" ]] && ((channels_max < shards)); then
    echo "note: $iface has at most $channels_max $channel_kind channels for $shards shards: using $channels_max"
    queues=$channels_max
else
    queues=$shards
fi
run ethtool -L "$iface" "$channel_kind" "$queues"

# 3. Coalescing. throughput: adaptive, the driver lengthens the interrupt interval as the
#    packet rate climbs (fewer interrupts per packet under load, prompt when idle).
#    low-latency: fixed 8 µs, an interrupt soon after each packet (busy_read/busy_poll in
#    tuning/low-latency.conf pick up what arrives between interrupts).
if [[ "$profile" == throughput ]]; then
    run ethtool -C "$iface" adaptive-rx on
else
    run ethtool -C "$iface" adaptive-rx off rx-usecs 8
fi

# 4. Interrupt affinity: queue i's interrupt on shard i's core. Read after step 2 with
#    --apply, since changing the channel count creates and removes interrupts.
mapfile -t irq_lines < <(queue_irqs)
for ((i = 0; i < queues; i++)); do
    core="${cores[$i]}"
    if ((i < ${#irq_lines[@]})); then
        read -r q irq name <<<"${irq_lines[$i]}"
        echo "queue $q ($name) -> shard $i on core $core"
        write_file "$core" "/proc/irq/$irq/smp_affinity_list"
    else
        if ((apply)); then
            echo "queue $i -> shard $i on core $core: no interrupt found for it in /proc/interrupts" >&2
            failed=1
        else
            echo "queue $i -> shard $i on core $core: its interrupt appears once ethtool -L has run"
        fi
    fi
done

if command -v systemctl >/dev/null && systemctl is-active --quiet irqbalance 2>/dev/null; then
    echo "warning: irqbalance is running and will move these interrupts: systemctl disable --now irqbalance (or IRQBALANCE_BANNED_CPUS=<shard cores>)"
fi

if ((failed)); then
    echo "nic.sh: some commands failed (above)" >&2
    exit 1
fi
if ((!apply && spreadable)); then
    echo "nic.sh: dry run done; run again with --apply (as root) to make these changes"
fi
