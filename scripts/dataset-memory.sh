#!/usr/bin/env bash
# Measures the server's peak resident memory growth while datasets are uploaded, previewed and
# trained on: the adversarial CSV of empty cells (1,000 columns, about 256 MiB of commas) and a
# 200,000 × 30 numeric table with a binary target. Each step resets the kernel's peak
# (/proc/PID/clear_refs, "5") and reads VmHWM after it, so every figure is that step's own peak
# over the RSS before it. Prints each dataset's columnar (stored) size beside the growth.
#
# Usage: scripts/dataset-memory.sh [ADVERSARIAL_MIB]   (default 255: under the 256 MiB limit)
# Needs: a local PostgreSQL (as for the tests), curl, python3. Builds the release binary, unless
# LICENTIA_BIN names one already built (e.g. target/debug/licentia).
set -euo pipefail
cd "$(dirname "$0")/.."
adv_mib=${1:-255}
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# A fixed mmap threshold: glibc otherwise raises it after large frees and keeps freed buffers, so
# one step's memory would hide inside the next step's "RSS before".
start_server MALLOC_MMAP_THRESHOLD_=131072
token=$(login licensee)
auth=(-H "authorization: Bearer $token")
licence=$(curl -s "$api/licences" "${auth[@]}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["items"][0]["id"])')

python3 - "$work" "$adv_mib" <<'PY'
import random, sys
work, mib = sys.argv[1], int(sys.argv[2])
# 1,000 columns of empty cells: 999 commas and a newline a line, 1,000 bytes.
with open(f"{work}/empty.csv", "w") as f:
    f.write(",".join(f"c{i}" for i in range(1000)) + "\n")
    line = "," * 999 + "\n"
    rows = (mib * 1024 * 1024 - 6000) // len(line)
    block = line * 1000
    for _ in range(rows // 1000):
        f.write(block)
    f.write(line * (rows % 1000))
rng = random.Random(7)
with open(f"{work}/numeric.csv", "w") as f:
    f.write(",".join(f"x{i}" for i in range(30)) + ",target\n")
    for _ in range(200_000):
        xs = [rng.gauss(0, 1) for _ in range(30)]
        t = 1 if xs[0] + 0.5 * xs[1] - xs[2] + rng.gauss(0, 1) > 0 else 0
        f.write(",".join(f"{x:.6f}" for x in xs) + f",{t}\n")
PY

rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
hwm() { awk '/VmHWM/ {print $2}' "/proc/$pid/status"; }
reset_peak() { echo 5 > "/proc/$pid/clear_refs"; }
# step NAME COMMAND...: runs COMMAND, prints the peak growth (KiB) over the RSS before it.
step() {
  local name=$1; shift
  reset_peak
  local before; before=$(rss)
  "$@" > "$work/step.json"
  echo "$name $before $(hwm)" >> "$work/steps.txt"
}
upload() { curl -s "$api/datasets?name=$1" "${auth[@]}" -H 'content-type: text/csv' --data-binary "@$work/$1"; }
stored() {
  psql -h 127.0.0.1 -U postgres -d "$db" -tAc "SELECT a.size_bytes FROM datasets d JOIN artifacts a ON a.id = d.artifact_id WHERE d.id = '$1'"
}
run_to_end() {
  local run; run=$(curl -s "$api/runs" "${auth[@]}" -H 'content-type: application/json' -d "{\"licence_id\":\"$licence\",\"dataset_id\":\"$1\",\"hyper\":{\"template\":\"tabular-binary-mlp\",\"target\":\"target\",\"epochs\":2,\"batch_size\":256}}" |
    python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
  for _ in $(seq 1 1200); do
    status=$(curl -s "$api/runs/$run" "${auth[@]}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["status"])')
    case $status in succeeded|failed|cancelled) echo "{\"status\":\"$status\"}"; return;; esac
    sleep 0.5
  done
  echo '{"status":"timeout"}'
}

step "upload empty.csv" upload empty.csv
empty=$(python3 -c 'import sys,json; print(json.load(open(sys.argv[1]))["id"])' "$work/step.json")
step "preview empty.csv" curl -s "$api/datasets/$empty" "${auth[@]}"
step "upload numeric.csv" upload numeric.csv
numeric=$(python3 -c 'import sys,json; print(json.load(open(sys.argv[1]))["id"])' "$work/step.json")
step "preview numeric.csv" curl -s "$api/datasets/$numeric" "${auth[@]}"
step "run on numeric.csv (2 epochs)" run_to_end "$numeric"
run_status=$(python3 -c 'import sys,json; print(json.load(open(sys.argv[1]))["status"])' "$work/step.json")

python3 - "$work" "$(stat -c %s "$work/empty.csv")" "$(stored "$empty")" "$(stat -c %s "$work/numeric.csv")" "$(stored "$numeric")" "$run_status" <<'PY'
import sys
work, empty_csv, empty_cols, num_csv, num_cols, status = sys.argv[1:]
mib = lambda b: int(b) / 1048576
print(f"empty.csv:   {mib(empty_csv):7.1f} MiB of CSV, {mib(empty_cols):7.2f} MiB stored as typed columns")
print(f"numeric.csv: {mib(num_csv):7.1f} MiB of CSV, {mib(num_cols):7.2f} MiB stored as typed columns; run {status}")
print(f"{'step':<32} {'RSS before MiB':>15} {'peak MiB':>9} {'growth MiB':>11} {'growth / columnar':>18}")
cols = {"empty.csv": int(empty_cols), "numeric.csv": int(num_cols)}
for line in open(f"{work}/steps.txt"):
    *name, before, peak = line.split()
    name = " ".join(name)
    growth = (int(peak) - int(before)) * 1024
    c = next(v for k, v in cols.items() if k in name)
    print(f"{name:<32} {int(before)/1024:>15.1f} {int(peak)/1024:>9.1f} {growth/1048576:>11.1f} {growth/max(c,1):>17.2f}x")
PY
