#!/usr/bin/env bash
# run.sh - side-by-side syslog ingestion benchmark over loopback.
#
# Receivers (each its own process, own config, own work dir, high port):
#   drain        C "physical limit" receiver (limit/drain.c): reads and counts
#   rsyslog      rsyslogd -n -f CONF -i PIDFILE -M MODDIR, omfile output
#   syslog-ng    syslog-ng -F -f CONF -R PERSIST -p PID -c CTL, file output
#   rsyslog-kafka / syslog-ng-kafka   (KAFKA=1) same + Kafka output to
#                librdkafka's in-process mock cluster (test.mock.num.brokers=1)
#   $RECEIVER_NAME (RECEIVER_CMD=...)  any future receiver, see README.md
# Load: syslog-ng's loggen, fixed message count, max rate, TCP (N connections)
# and UDP.  Receivers alternate (A B C A B C ...) for ROUNDS rounds; the
# summary reports medians.  Everything it writes goes under $WORK
# (default /tmp/peers-bench).  See README.md for the columns.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# ---------------------------------------------------------------- knobs ----
MSGS=${MSGS:-1000000}            # messages per run (total over all connections)
MSG_SIZE=${MSG_SIZE:-256}        # bytes per message incl. the trailing newline
FORMAT=${FORMAT:-rfc5424}        # rfc5424 (newline framed, -P -F) | rfc3164
TCP_CONNS=${TCP_CONNS:-4}        # loggen --active-connections for TCP
UDP_CONNS=${UDP_CONNS:-1}        # loggen --active-connections for UDP
TCP_RATE=${TCP_RATE:-100000000}  # loggen -r, msg/s PER CONNECTION (default: max)
UDP_RATE=${UDP_RATE:-100000000}  # e.g. UDP_RATE=100000 for a loss-vs-rate point
ROUNDS=${ROUNDS:-3}
TRANSPORTS=${TRANSPORTS:-"tcp udp"}
RECEIVERS=${RECEIVERS:-"drain rsyslog syslog-ng"}
KAFKA=${KAFKA:-1}                # 1: also run rsyslog-kafka and syslog-ng-kafka
PORT=${PORT:-5514}
UDP_RCVBUF=${UDP_RCVBUF:-4194304}   # SO_RCVBUF asked for by every UDP receiver
RSYSLOG_TCP=${RSYSLOG_TCP:-imtcp}   # imtcp | imptcp
QUIET_MS=${QUIET_MS:-1000}       # "receiver done" = no progress for this long
RUN_TIMEOUT=${RUN_TIMEOUT:-120}  # hard limit per run (s)
SETTLE=${SETTLE:-0.3}            # pause between "port is listening" and load (s)
SENDRATE_SECS=${SENDRATE_SECS:-2}   # length of one UDP sender max-rate probe; 0 = skip
SENDRATE_REPS=${SENDRATE_REPS:-3}   # probes per setting (1 and 2 connections); median reported
WORK=${WORK:-/tmp/peers-bench}
OUTDIR=${OUTDIR:-$WORK/results/$(date +%Y%m%d-%H%M%S)}
KEEP_OUTPUT=${KEEP_OUTPUT:-0}    # 1: keep the receivers' output files
SKIP_SETUP=${SKIP_SETUP:-0}      # 1: do not apt-get / extract anything
LOGGEN=${LOGGEN:-loggen}
# future receiver hook
RECEIVER_CMD=${RECEIVER_CMD:-}
RECEIVER_NAME=${RECEIVER_NAME:-custom}   # one name, or several ("a b"): each runs RECEIVER_CMD with {NAME}
RECEIVER_COUNT=${RECEIVER_COUNT:-file}      # file | cmd:COMMAND
RECEIVER_TRANSPORTS=${RECEIVER_TRANSPORTS:-"tcp udp"}

BIN=$WORK/bin
RSYSLOG_ROOT=$WORK/rsyslog-root
CLK_TCK=$(getconf CLK_TCK)
RPID="" LPID=""

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

cleanup() {
    for p in $LPID $RPID; do
        if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then kill -TERM "$p" 2>/dev/null; fi
    done
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ---------------------------------------------------------------- setup ----
apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >"$WORK/apt.log" 2>&1 ||
        { apt-get update -qq >>"$WORK/apt.log" 2>&1;
          DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "$@" >>"$WORK/apt.log" 2>&1; } ||
        die "apt-get install $* failed, see $WORK/apt.log"
}

setup() {
    mkdir -p "$WORK" "$BIN"
    if [ "$SKIP_SETUP" != 1 ]; then
        local pkgs=()
        command -v gcc >/dev/null || pkgs+=(gcc libc6-dev)
        command -v ss >/dev/null || pkgs+=(iproute2)
        command -v python3 >/dev/null || pkgs+=(python3)
        # syslog-ng-core ships both syslog-ng and loggen
        command -v syslog-ng >/dev/null && command -v loggen >/dev/null || pkgs+=(syslog-ng-core)
        dpkg -s syslog-ng-mod-rdkafka >/dev/null 2>&1 || pkgs+=(syslog-ng-mod-rdkafka)
        # rsyslog's libraries (rsyslog itself conflicts with syslog-ng-core, see below)
        local p
        for p in libestr0 libfastjson4 liblognorm5 librdkafka1; do
            dpkg -s "$p" >/dev/null 2>&1 || pkgs+=("$p")
        done
        if [ ${#pkgs[@]} -gt 0 ]; then log "apt-get install ${pkgs[*]}"; apt_install "${pkgs[@]}"; fi
        # rsyslog and syslog-ng-core both "Provide/Conflict: system-log-daemon",
        # so dpkg will not install both.  Unless rsyslogd is installed already,
        # unpack the rsyslog + rsyslog-kafka .debs under $WORK and run that
        # binary with -M <its module dir>.  Nothing is installed system-wide.
        if ! command -v rsyslogd >/dev/null && [ ! -x "$RSYSLOG_ROOT/usr/sbin/rsyslogd" ]; then
            log "unpacking rsyslog + rsyslog-kafka into $RSYSLOG_ROOT"
            mkdir -p "$WORK/debs" && rm -f "$WORK/debs"/*.deb
            ( cd "$WORK/debs" && apt-get download rsyslog rsyslog-kafka >>"$WORK/apt.log" 2>&1 ) ||
                { apt-get update -qq >>"$WORK/apt.log" 2>&1;
                  ( cd "$WORK/debs" && apt-get download rsyslog rsyslog-kafka >>"$WORK/apt.log" 2>&1 ); } ||
                die "apt-get download rsyslog failed"
            local d; for d in "$WORK/debs"/*.deb; do dpkg-deb -x "$d" "$RSYSLOG_ROOT"; done
        fi
    fi
    if command -v rsyslogd >/dev/null; then
        RSYSLOGD=$(command -v rsyslogd)
        RSYSLOG_MODDIR=$(dirname "$(find /usr/lib -name imudp.so -path '*rsyslog*' | head -1)")
    else
        RSYSLOGD=$RSYSLOG_ROOT/usr/sbin/rsyslogd
        RSYSLOG_MODDIR=$(dirname "$(find "$RSYSLOG_ROOT" -name imudp.so | head -1)")
    fi
    # tiny build step for the C tools
    local t
    for t in drain watch; do
        if [ ! -x "$BIN/$t" ] || [ "$HERE/limit/$t.c" -nt "$BIN/$t" ]; then
            log "gcc -O2 limit/$t.c"
            gcc -O2 -Wall -o "$BIN/$t" "$HERE/limit/$t.c" || die "build of $t failed"
        fi
    done
    command -v "$LOGGEN" >/dev/null || die "loggen not found"
}

# --------------------------------------------------------------- helpers ---
proc_cpu() {  # utime+stime of PID in clock ticks (all threads, incl. exited ones)
    local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    s=${s##*) }; set -- $s; echo $(( ${12} + ${13} ))
}
cpu_busy() {  # jiffies the whole box was busy (user nice system irq softirq steal)
    awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat
}
udp_ctr() {   # InDatagrams InErrors RcvbufErrors (system wide)
    awk '/^Udp: [0-9]/{print $2, $4, $6}' /proc/net/snmp
}
port_busy() { # $1 = tcp|udp
    if [ "$1" = tcp ]; then ss -Hltn "sport = :$PORT" | grep -q .; else ss -Hlun "sport = :$PORT" | grep -q .; fi
}
wait_listening() {  # $1 transport; RPID must stay alive
    local i
    for i in $(seq 1 150); do
        kill -0 "$RPID" 2>/dev/null || return 1
        port_busy "$1" && return 0
        sleep 0.1
    done
    return 1
}
stop_receiver() {
    [ -n "$RPID" ] || return 0
    kill -TERM "$RPID" 2>/dev/null
    local i
    for i in $(seq 1 150); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$RPID" 2>/dev/null; then log "receiver $RPID ignored SIGTERM, SIGKILL"; kill -KILL "$RPID" 2>/dev/null; fi
    wait "$RPID" 2>/dev/null
    RPID=""
}
render() {  # template transport kafka(0|1) out workdir > stdout
    local tpl=$1 tr=${2^^} kafka=$3 out=$4 wd=$5 flags=""
    [ "$FORMAT" = rfc5424 ] && flags="flags(syslog-protocol)"
    local kf='^#KAFKA-OFF#'; [ "$kafka" = 1 ] && kf='^#KAFKA# \{0,1\}'
    sed -e "s|@WORKDIR@|$wd|g" -e "s|@OUT@|$out|g" -e "s|@PORT@|$PORT|g" \
        -e "s|@RCVBUF@|$UDP_RCVBUF|g" -e "s|@TCPMOD@|$RSYSLOG_TCP|g" -e "s|@FLAGS@|$flags|g" \
        -e "s|^#$tr# \{0,1\}||" -e "s|$kf||" "$tpl"
}
subst() {  # replace {PORT} {PROTO} {OUT} {WORKDIR} {RCVBUF} {FORMAT} in $1
    local s=$1
    s=${s//\{PORT\}/$PORT}; s=${s//\{PROTO\}/$2}; s=${s//\{OUT\}/$3}
    s=${s//\{WORKDIR\}/$4}; s=${s//\{RCVBUF\}/$UDP_RCVBUF}; s=${s//\{FORMAT\}/$FORMAT}
    printf '%s' "$s"
}

# Start receiver $1 for transport $2 in dir $3.  Sets RPID, PROGRESS (watch
# args) and FINAL (how to get the final count: file|drain|cmd).
start_receiver() {
    local name=$1 tr=$2 dir=$3 out=$3/out.log
    mkdir -p "$dir/work"
    case $name in
    drain)
        local pf=-t; [ "$tr" = udp ] && pf=-u
        "$BIN/drain" $pf "$PORT" -b "$( [ "$tr" = udp ] && echo "$UDP_RCVBUF" || echo 0 )" \
            -c "$dir/count" >"$dir/receiver.out" 2>"$dir/receiver.err" &
        RPID=$!; PROGRESS=(-m "$dir/count"); FINAL=drain ;;
    rsyslog|rsyslog-kafka)
        local k=0; [ "$name" = rsyslog-kafka ] && k=1
        render "$HERE/configs/rsyslog.conf.in" "$tr" $k "$out" "$dir/work" >"$dir/rsyslog.conf"
        [ $k = 1 ] && printf 'module(load="impstats" interval="1" format="json" log.syslog="off" log.file="%s")\n' \
            "$dir/impstats.log" >>"$dir/rsyslog.conf"
        "$RSYSLOGD" -n -f "$dir/rsyslog.conf" -i "$dir/rsyslog.pid" -M "$RSYSLOG_MODDIR" \
            >"$dir/receiver.out" 2>"$dir/receiver.err" &
        RPID=$!; PROGRESS=(-f "$out"); FINAL=file ;;
    syslog-ng|syslog-ng-kafka)
        local k=0; [ "$name" = syslog-ng-kafka ] && k=1
        render "$HERE/configs/syslog-ng.conf.in" "$tr" $k "$out" "$dir/work" >"$dir/syslog-ng.conf"
        syslog-ng -F -e --no-caps -f "$dir/syslog-ng.conf" -R "$dir/work/syslog-ng.persist" \
            -p "$dir/work/syslog-ng.pid" -c "$dir/work/syslog-ng.ctl" \
            >"$dir/receiver.out" 2>"$dir/receiver.err" &
        RPID=$!; PROGRESS=(-f "$out"); FINAL=file ;;
    *)
        [[ " $RECEIVER_NAME " == *" $name "* ]] || die "unknown receiver $name"
        [ -n "$RECEIVER_CMD" ] || die "receiver $name needs RECEIVER_CMD"
        local cmd; cmd=$(subst "$RECEIVER_CMD" "$tr" "$out" "$dir/work")
        cmd=${cmd//\{NAME\}/$name}
        echo "$cmd" >"$dir/receiver.cmd"
        BENCH_PORT=$PORT BENCH_PROTO=$tr BENCH_OUT=$out BENCH_WORKDIR=$dir/work \
        BENCH_RCVBUF=$UDP_RCVBUF BENCH_FORMAT=$FORMAT \
            bash -c "exec $cmd" >"$dir/receiver.out" 2>"$dir/receiver.err" &
        RPID=$!
        if [ "${RECEIVER_COUNT%%:*}" = cmd ]; then
            local count; count=$(subst "${RECEIVER_COUNT#cmd:}" "$tr" "$out" "$dir/work")
            PROGRESS=(-x "${count//\{NAME\}/$name}" -i 50); FINAL=cmd
        else
            PROGRESS=(-f "$out"); FINAL=file
        fi ;;
    esac
}

kafka_note() {  # receiver dir count -> short text with the Kafka output counters
    case $1 in
    rsyslog-kafka)
        # impstats writes every second; wait (<= 3 s) for a line that has
        # seen all messages the file output has.  "acked" may stay behind:
        # omkafka only collects delivery reports when it produces again.
        local i sub
        for i in $(seq 1 30); do
            sub=$(grep '"name": *"omkafka"' "$2/impstats.log" 2>/dev/null | tail -1 |
                  sed -E 's/.*"submitted": *([0-9]+).*/\1/')
            [ "${sub:-0}" -ge "$3" ] 2>/dev/null && break
            sleep 0.1
        done
        grep '"name": *"omkafka"' "$2/impstats.log" 2>/dev/null | tail -1 |
            sed -E 's/.*"submitted": *([0-9]+).*"failures": *([0-9]+).*"acked": *([0-9]+).*/kafka_submitted=\1,kafka_failures=\2,kafka_acked=\3/' ;;
    syslog-ng-kafka)
        syslog-ng-ctl stats -c "$2/work/syslog-ng.ctl" 2>/dev/null | awk -F';' '
            $1=="dst.kafka" {v[$5]=$6} END {printf "kafka_written=%s,kafka_dropped=%s,kafka_queued=%s", v["written"], v["dropped"], v["queued"]}' ;;
    esac
}

loggen_args() {  # transport -> args (without target/port)
    local fmt=""; [ "$FORMAT" = rfc5424 ] && fmt="-P -F"
    if [ "$1" = tcp ]; then
        echo "-i -S $fmt -s $MSG_SIZE -r $TCP_RATE -I 3600 -n $((MSGS / TCP_CONNS)) --active-connections=$TCP_CONNS"
    else
        echo "-i -D $fmt -s $MSG_SIZE -r $UDP_RATE -I 3600 -n $((MSGS / UDP_CONNS)) --active-connections=$UDP_CONNS"
    fi
}

# ------------------------------------------------------------- one run -----
run_one() {
    local round=$1 rcv=$2 tr=$3
    local dir=$OUTDIR/runs/r$round-$rcv-$tr
    mkdir -p "$dir"
    port_busy "$tr" && die "port $PORT/$tr is already in use by something else"
    start_receiver "$rcv" "$tr" "$dir"
    if ! wait_listening "$tr"; then
        log "  $rcv/$tr did not come up, see $dir/receiver.err"; tail -5 "$dir/receiver.err" >&2
        stop_receiver
        printf '%s\t%s\t%s\t0\t0\t100\t0\t0\t0\t0\t0\t0\t0\t0\t0\tfailed\tstartup\n' "$round" "$rcv" "$tr" >>"$OUTDIR/runs.tsv"
        return
    fi
    sleep "$SETTLE"
    local conns; [ "$tr" = tcp ] && conns=$TCP_CONNS || conns=$UDP_CONNS
    local target=$(( (MSGS / conns) * conns ))
    local args; args=$(loggen_args "$tr")
    echo "$LOGGEN $args 127.0.0.1 $PORT" >"$dir/loggen.cmd"

    local cpu0 busy0 u0 t0
    cpu0=$(proc_cpu "$RPID"); busy0=$(cpu_busy); u0=$(udp_ctr); t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$LOGGEN" $args 127.0.0.1 "$PORT" >"$dir/loggen.out" 2>"$dir/loggen.err" &
    LPID=$!
    "$BIN/watch" "${PROGRESS[@]}" -n "$target" -p "$LPID" -q "$QUIET_MS" -T "$RUN_TIMEOUT" >"$dir/watch.out"
    if grep -q 'reason=timeout' "$dir/watch.out"; then
        log "  run hit RUN_TIMEOUT=${RUN_TIMEOUT}s"; kill -TERM "$LPID" 2>/dev/null
    fi
    wait "$LPID" 2>/dev/null; LPID=""
    local cpu1 busy1 u1 t1
    cpu1=$(proc_cpu "$RPID"); busy1=$(cpu_busy); u1=$(udp_ctr); t1=$(date +%s.%N)
    local note="" final_cmd=""
    case $rcv in *-kafka) note=$(kafka_note "$rcv" "$dir" "$(sed -n 's/^value=\([0-9]*\).*/\1/p' "$dir/watch.out")") ;; esac
    [ "$FINAL" = cmd ] && final_cmd=$(bash -c "${PROGRESS[1]}" 2>/dev/null | head -1)
    stop_receiver

    local received=0
    case $FINAL in
        drain) received=$(sed -n 's/^received=\([0-9]*\).*/\1/p' "$dir/receiver.out" | tail -1) ;;
        file)  received=$( [ -f "$dir/out.log" ] && wc -l <"$dir/out.log" || echo 0) ;;
        cmd)   received=${final_cmd:-0} ;;
    esac
    local sent; sent=$(sed -n 's/.*average rate = .*count=\([0-9]*\),.*/\1/p' "$dir/loggen.err" | tail -1)
    [ -n "$sent" ] || { sent=0; log "  loggen reported no count, see $dir/loggen.err"; }
    [ "$KEEP_OUTPUT" = 1 ] || rm -f "$dir/out.log"

    # shellcheck disable=SC2046
    set -- $(cat "$dir/watch.out" | tr ' =' '\n\n' | awk 'NR%2==0')  # value first last reason s_start s_end s_cpu
    local wval=$1 last=$3 reason=$4 s_start=$5 s_end=$6 s_cpu=$7
    awk -v round="$round" -v rcv="$rcv" -v tr="$tr" -v sent="$sent" -v recv="${received:-0}" \
        -v wval="$wval" -v last="$last" -v s_start="$s_start" -v s_end="$s_end" -v s_cpu="$s_cpu" \
        -v t0="$t0" -v t1="$t1" -v cpu0="$cpu0" -v cpu1="$cpu1" -v hz="$CLK_TCK" \
        -v busy0="$busy0" -v busy1="$busy1" -v u0="$u0" -v u1="$u1" -v reason="$reason" -v note="${note:--}" '
    BEGIN {
        start = (s_start > 0) ? s_start : t0
        send_secs = (s_end > start) ? s_end - start : 0
        recv_secs = (last > start) ? last - start : 0
        send_rate = send_secs > 0 ? sent / send_secs : 0
        recv_rate = recv_secs > 0 ? wval / recv_secs : 0
        rcpu = (cpu1 - cpu0) / hz
        us_per_msg = recv > 0 ? rcpu / recv * 1e6 : 0
        loss = sent > 0 ? (sent - recv) * 100 / sent : 0
        split(u0, a, " "); split(u1, b, " ")
        kdrop = (tr == "udp") ? b[3] - a[3] : 0
        window = t1 - t0
        scpu = (s_cpu > 0) ? s_cpu : 0
        other = window > 0 ? ((busy1 - busy0) / hz - rcpu - scpu) / window : 0
        if (other < 0) other = 0
        printf "%s\t%s\t%s\t%d\t%d\t%.3f\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%d\t%.3f\t%.3f\t%.2f\t%s\t%s\n",
            round, rcv, tr, sent, recv, loss, send_rate, recv_rate, rcpu, us_per_msg, scpu, kdrop,
            send_secs, recv_secs, other, reason, note
    }' | tee -a "$OUTDIR/runs.tsv" | awk -F'\t' '{printf "  %-16s %-3s sent=%d recv=%d loss=%s%% recv=%s msg/s send=%s msg/s rcpu=%ss (%s us/msg) kdrop=%s other=%s cores %s\n", $2, $3, $4, $5, $6, $8, $7, $9, $10, $12, $15, ($17=="-"?"":$17)}' >&2
}

# ------------------------------------------------ UDP sender max rate ------
# Once per run.sh: how fast can loggen alone push UDP on this box?  The
# receiving socket is bound but never read (drain -s), so the receiver costs
# no CPU; the kernel drops what does not fit in the socket buffer.
probe_udp_sendrate() {
    [ "$SENDRATE_SECS" -gt 0 ] 2>/dev/null || return 0
    printf 'connections\trep\tsecs\tsent\tsend_rate\tsender_cpu_s\tkernel_rcvbuf_drops\n' >"$OUTDIR/udp_sendrate.tsv"
    local fmt=""; [ "$FORMAT" = rfc5424 ] && fmt="-P -F"
    local rep c
    for rep in $(seq 1 "$SENDRATE_REPS"); do
      for c in 1 2; do   # alternate 1 and 2 connections, like the receivers
        local dir=$OUTDIR/sendrate-udp-c$c-$rep; mkdir -p "$dir"
        port_busy udp && die "port $PORT/udp is already in use"
        "$BIN/drain" -u "$PORT" -b "$UDP_RCVBUF" -s -c "$dir/count" >"$dir/receiver.out" 2>"$dir/receiver.err" &
        RPID=$!
        wait_listening udp || die "drain -s did not start"
        local u0 u1; u0=$(udp_ctr)
        # shellcheck disable=SC2086
        "$LOGGEN" -i -D $fmt -s "$MSG_SIZE" -r 100000000 -I "$SENDRATE_SECS" --active-connections=$c \
            127.0.0.1 "$PORT" >"$dir/loggen.out" 2>"$dir/loggen.err" &
        LPID=$!
        "$BIN/watch" -m "$dir/count" -p "$LPID" -q 0 -T 60 >"$dir/watch.out"
        wait "$LPID" 2>/dev/null; LPID=""
        u1=$(udp_ctr)
        stop_receiver
        local sent; sent=$(sed -n 's/.*average rate = .*count=\([0-9]*\),.*/\1/p' "$dir/loggen.err" | tail -1)
        set -- $(tr ' =' '\n\n' <"$dir/watch.out" | awk 'NR%2==0')
        awk -v c="$c" -v rep="$rep" -v sent="${sent:-0}" -v s="$5" -v e="$6" -v cpu="$7" -v u0="$u0" -v u1="$u1" 'BEGIN {
            split(u0, a, " "); split(u1, b, " "); d = e - s
            printf "%d\t%d\t%.3f\t%d\t%.0f\t%.2f\t%d\n", c, rep, d, sent, (d > 0 ? sent / d : 0), cpu, b[3] - a[3] }' \
            >>"$OUTDIR/udp_sendrate.tsv"
        log "  UDP sender probe $rep/$SENDRATE_REPS, $c connection(s): $(tail -1 "$OUTDIR/udp_sendrate.tsv" | awk -F'\t' '{printf "%d msgs in %.2fs = %.0f msg/s, loggen cpu %ss", $4, $3, $5, $6}')"
      done
    done
}

# ------------------------------------------------------------------ main ----
main() {
    setup
    mkdir -p "$OUTDIR/runs"
    local receivers=$RECEIVERS
    [ "$KAFKA" = 1 ] && receivers="$receivers rsyslog-kafka syslog-ng-kafka"
    local custom
    for custom in $RECEIVER_NAME; do
        [ -n "$RECEIVER_CMD" ] && [[ " $receivers " != *" $custom "* ]] && receivers="$receivers $custom"
    done

    {
        echo "date: $(date -Is)"
        echo "host: $(uname -srm), $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
        echo "net.core.rmem_max: $(cat /proc/sys/net/core/rmem_max), rmem_default: $(cat /proc/sys/net/core/rmem_default)"
        echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
        echo "rsyslog: $("$RSYSLOGD" -v 2>/dev/null | head -1) ($RSYSLOGD, modules $RSYSLOG_MODDIR, tcp input $RSYSLOG_TCP)"
        echo "syslog-ng: $(syslog-ng --version 2>/dev/null | sed -n 's/^Installer-Version: //p')"
        echo "librdkafka: $(dpkg-query -W -f='${Version}' librdkafka1 2>/dev/null)"
        echo "loggen: $(command -v "$LOGGEN") ($(dpkg -S "$(command -v "$LOGGEN")" 2>/dev/null | cut -d: -f1))"
        echo "messages per run: $MSGS, size $MSG_SIZE B, format $FORMAT, tcp connections $TCP_CONNS, udp connections $UDP_CONNS"
        echo "rounds: $ROUNDS, transports: $TRANSPORTS, receivers: $receivers"
        echo "udp SO_RCVBUF requested: $UDP_RCVBUF, port: $PORT"
        echo "loggen tcp: $LOGGEN $(loggen_args tcp) 127.0.0.1 $PORT"
        echo "loggen udp: $LOGGEN $(loggen_args udp) 127.0.0.1 $PORT"
        [ -n "$RECEIVER_CMD" ] && echo "custom receiver $RECEIVER_NAME: $RECEIVER_CMD (count: $RECEIVER_COUNT)"
    } >"$OUTDIR/env.txt"
    cat "$OUTDIR/env.txt" >&2

    printf 'round\treceiver\ttransport\tsent\treceived\tloss_pct\tsend_rate\trecv_rate\trecv_cpu_s\tcpu_us_per_msg\tsender_cpu_s\tkernel_drops\tsend_secs\trecv_secs\tother_cores\treason\tnote\n' >"$OUTDIR/runs.tsv"

    log "probing the UDP sender's max rate (${SENDRATE_REPS} x ${SENDRATE_SECS}s each, 1 and 2 connections)"
    probe_udp_sendrate

    local round tr rcv
    for round in $(seq 1 "$ROUNDS"); do
        for tr in $TRANSPORTS; do
            for rcv in $receivers; do
                if [[ " $RECEIVER_NAME " == *" $rcv "* ]] && [[ " $RECEIVER_TRANSPORTS " != *" $tr "* ]]; then continue; fi
                log "round $round/$ROUNDS: $rcv over $tr"
                run_one "$round" "$rcv" "$tr"
            done
        done
    done

    python3 "$HERE/summarize.py" "$OUTDIR" >"$OUTDIR/summary.md" || die "summarize failed"
    cat "$OUTDIR/summary.md"
    log "raw data: $OUTDIR (runs.tsv, udp_sendrate.tsv, env.txt, runs/*)"
}

main "$@"
