#!/usr/bin/env bash
# Instructions per uncontended checkout and return, for each party of
# `checkout/uncontended`, counted by callgrind: the count of a run of
# $LONG cycles minus that of $SHORT cycles, divided by the difference, so
# that start-up and the runtime's set-up cancel out. Repeatable whatever
# else the machine is doing.
#
# Run: benches/instructions.sh   (needs valgrind)
set -euo pipefail
cd "$(dirname "$0")/.."
SHORT=${SHORT:-2000}
LONG=${LONG:-12000}
cargo bench --bench checkout_cost --no-run 2>/dev/null
bin=$(ls -t target/release/deps/checkout_cost-* | grep -v '\.d$' | head -1)
count() {
  local out
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$1" "$2" >/dev/null 2>&1
  awk '/^summary:/ { print $2 }' "$out"
  rm -f "$out"
}
declare -A per_cycle
for party in timewait deadpool bb8 std-mutex-vec; do
  short=$(count "$party" "$SHORT")
  long=$(count "$party" "$LONG")
  per_cycle[$party]=$(( (long - short) / (LONG - SHORT) ))
done
for party in timewait deadpool bb8 std-mutex-vec; do
  awk -v p="$party" -v n="${per_cycle[$party]}" -v d="${per_cycle[deadpool]}" \
    'BEGIN { printf "%-14s %6d instructions a cycle  × deadpool %.2f\n", p, n, n / d }'
done
