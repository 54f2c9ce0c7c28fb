#!/usr/bin/env bash
# Peak memory of reading legal huge JSON files (docs/measurements.md, "Peak memory of huge JSON files"): writes a
# ~400 MB `{"shape", "data"}` array, a ~400 MB nested-list array and a ~400 MB results file
# with one inline gradient into a scratch folder, then reads each with the release binary
# under `/usr/bin/time -v` and prints its peak RSS beside the size of the f64 data.
#
#   bash benches/json_memory.sh [SCRATCH_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-$(mktemp -d)}
mkdir -p "$dir"
cargo build --release --bin ufl-oracle
bin=target/release/ufl-oracle
python3 - "$dir" <<'PY'
import random, sys
d = sys.argv[1]
random.seed(1)
def numbers(f, n, fmt="%.8f"):
    chunk = 1_000_000
    for start in range(0, n, chunk):
        if start:
            f.write(",")
        f.write(",".join(fmt % random.random() for _ in range(min(chunk, n - start))))
n = 36_000_000
with open(f"{d}/flat.json", "w") as f:
    f.write('{"shape": [%d], "data": [' % n); numbers(f, n); f.write("]}")
with open(f"{d}/results.json", "w") as f:
    f.write('{"format": "ufl-results/1", "cases": [{"id": "x", "loss": 1.0, "grad": [')
    numbers(f, n); f.write("]}]}")
pairs = 16_000_000
with open(f"{d}/nested.json", "w") as f:
    f.write("[")
    chunk = 500_000
    for start in range(0, pairs, chunk):
        if start:
            f.write(",")
        f.write(",".join("[%.8f,%.8f]" % (random.random(), random.random())
                         for _ in range(min(chunk, pairs - start))))
    f.write("]")
PY
echo '[0.5, 0.5]' > "$dir/small.json"
python3 -c "
import json
d = json.load(open('fixtures/original/symmetric.json'))
d['cases'] = d['cases'][:1]
json.dump(d, open('$dir/one-case.json', 'w'))"
peak() {
    /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/ {print $2}'
}
report() { # name, numbers, peak KiB
    awk -v name="$1" -v n="$2" -v kib="$3" \
        'BEGIN { data = n * 8 / 1024; printf "%-28s %10d numbers  f64 data %9.0f KiB  peak RSS %9d KiB  %.3fx\n", name, n, data, kib, kib / data }'
}
report "array {shape, data}" 36000000 "$(peak $bin eval -f dice_loss --pred "$dir/flat.json" --target "$dir/small.json" || true)"
report "array, nested lists" 32000000 "$(peak $bin eval -f dice_loss --pred "$dir/nested.json" --target "$dir/small.json" || true)"
report "results, inline gradient" 36000000 "$(peak $bin check --cases "$dir/one-case.json" --results "$dir/results.json" || true)"
