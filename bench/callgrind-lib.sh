# Shared by bench/*_instructions.sh (sourced, not run): build a release example and count its
# instructions under valgrind's callgrind. Deterministic for a given binary, whatever else the
# machine runs. An example takes `WHICH INPUT ITER` and, with ITER 0, prints the items one
# pass holds; `per_item` is ((ITER passes) - (0 passes)) / (ITER × items), so that start-up and
# opening the input cancel out.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v valgrind >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; }
CALLGRIND_TMP=$(mktemp -d); trap 'rm -rf "$CALLGRIND_TMP"' EXIT

# Build example NAME (release) and set BIN to it.
callgrind_example() { # name
  cargo build --locked --release --example "$1" 2>&1 | tail -1
  BIN=${CARGO_TARGET_DIR:-target}/release/examples/$1
}

# Instructions of one run of $BIN WHICH INPUT ITER.
callgrind_count() { # which input iter
  valgrind --tool=callgrind --callgrind-out-file="$CALLGRIND_TMP/out" "$BIN" "$1" "$2" "$3" >/dev/null 2>"$CALLGRIND_TMP/err"
  grep -o 'Collected : [0-9]*' "$CALLGRIND_TMP/err" | awk '{print $3}'
}

# Instructions per item of WHICH on INPUT, over ITER passes of ITEMS items.
per_item() { # which input iter items
  local base full
  base=$(callgrind_count "$1" "$2" 0)
  full=$(callgrind_count "$1" "$2" "$3")
  echo $(( (full - base) / ($3 * $4) ))
}
