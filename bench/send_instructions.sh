#!/usr/bin/env bash
# Instructions per record handed to Kafka (issue 14): `KafkaSink::send_batch` with
# librdkafka's partitioner choosing every record's partition (the path before issue 14) beside
# the shard choosing it (one rd_kafka_produce_batch call per partition), counted by valgrind's
# callgrind in one run (bench/send_instructions.rs: batches of 256 keyed ECS records to the
# embedded cluster, each delivered before the next). Two counts per mode: the shard's thread
# inside send_batch only (deterministic), and the whole process (librdkafka's broker thread
# and the embedded broker too; their idle wake-ups vary a little from run to run). Each count
# is (ITER batches) - (0 batches), divided by the records sent.
# Usage: bash bench/send_instructions.sh [ITER]
source "$(dirname "$0")/callgrind-lib.sh"
ITER=${1:-200}
callgrind_example send_instructions

# Instructions of one run (MODE ITER), with extra callgrind options.
count() { # mode iter [options]
  local mode=$1 iter=$2; shift 2
  valgrind --tool=callgrind "$@" --callgrind-out-file="$CALLGRIND_TMP/out" "$BIN" "$mode" "$iter" >/dev/null 2>"$CALLGRIND_TMP/err"
  grep -o 'Collected : [0-9]*' "$CALLGRIND_TMP/err" | awk '{print $3}'
}
per_record() { # mode records [options]
  local mode=$1 records=$2; shift 2
  local base full
  base=$(count "$mode" 0 "$@"); full=$(count "$mode" "$ITER" "$@")
  echo $(( (full - base) / (ITER * records) ))
}
records=$("$BIN" librdkafka 0)
send='--toggle-collect=*KafkaSink*send_batch*'
echo "| count | librdkafka partitions instr/record | shard partitions instr/record | ratio |"
echo "| --- | ---: | ---: | ---: |"
a=$(per_record librdkafka "$records" "$send"); b=$(per_record shard "$records" "$send")
echo "| send_batch (shard thread) | $a | $b | $(python3 -c "print(f'{$b/$a:.2f}x')") |"
a=$(per_record librdkafka "$records"); b=$(per_record shard "$records")
echo "| whole process | $a | $b | $(python3 -c "print(f'{$b/$a:.2f}x')") |"
