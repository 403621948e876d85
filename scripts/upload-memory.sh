#!/usr/bin/env bash
# Measures the server's peak memory growth while a large artifact is uploaded and downloaded.
# Usage: scripts/upload-memory.sh [SIZE_MIB]   (default 1024)
# Needs: a local PostgreSQL (as for the tests), curl, python3; builds the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
work=$(mktemp -d)
db="licentia_mem_$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release -q -p licentia
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" LICENTIA_DATA_DIR="$work/data" LICENTIA_LISTEN="127.0.0.1:$port" \
  LICENTIA_LOG=warn LICENTIA_MAX_UPLOAD=$(( (size_mib + 1) * 1024 * 1024 )) \
  ./target/release/licentia serve > "$work/out.txt" &
pid=$!
for _ in $(seq 1 100); do grep -q "listening" "$work/out.txt" 2>/dev/null && break; sleep 0.2; done
email=$(awk '/DEMO-LOGIN manager/ {print $3; exit}' "$work/out.txt")
password=$(awk '/DEMO-LOGIN manager/ {print $4; exit}' "$work/out.txt")
token=$(curl -s "http://127.0.0.1:$port/api/v1/auth/token" -H 'content-type: application/json' \
  -d "{\"email\":\"$email\",\"password\":\"$password\"}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')
org=$(curl -s "http://127.0.0.1:$port/api/v1/organisations" -H "authorization: Bearer $token" \
  | python3 -c 'import sys,json; print([o["id"] for o in json.load(sys.stdin)["items"] if o["kind"]=="licensor"][0])')

head -c $(( size_mib * 1024 * 1024 )) /dev/urandom > "$work/big.bin"
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
hwm() { awk '/VmHWM/ {print $2}' "/proc/$pid/status"; }
before=$(rss)
start=$(date +%s.%N)
id=$(curl -s "http://127.0.0.1:$port/api/v1/artifacts" -H "authorization: Bearer $token" \
  -F attached_kind=organisation -F "attached_id=$org" -F "file=@$work/big.bin;type=application/octet-stream" \
  | python3 -c 'import sys,json; print(json.load(sys.stdin)["id"])')
mid=$(date +%s.%N)
after_up=$(hwm)
curl -s "http://127.0.0.1:$port/api/v1/artifacts/$id/content" -H "authorization: Bearer $token" -o "$work/back.bin"
end=$(date +%s.%N)
after_down=$(hwm)
cmp -s "$work/big.bin" "$work/back.bin" && same=identical || same=DIFFERENT
python3 - "$size_mib" "$before" "$after_up" "$after_down" "$start" "$mid" "$end" "$same" <<'PY'
import sys
mib, before, up, down, t0, t1, t2, same = sys.argv[1:]
mib = int(mib); before, up, down = int(before), int(up), int(down)
t0, t1, t2 = float(t0), float(t1), float(t2)
print(f"{mib} MiB artifact: upload {mib/(t1-t0):.0f} MiB/s, download {mib/(t2-t1):.0f} MiB/s, round trip {same}")
print(f"server RSS before: {before/1024:.1f} MiB; peak after upload: {up/1024:.1f} MiB (+{(up-before)/1024:.1f}); peak after download: {down/1024:.1f} MiB (+{(down-before)/1024:.1f})")
PY
