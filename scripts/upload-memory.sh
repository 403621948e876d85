#!/usr/bin/env bash
# Measures the server's peak memory growth while a large artifact is uploaded and downloaded.
# Usage: scripts/upload-memory.sh [SIZE_MIB]   (default 1024)
# Needs: a local PostgreSQL (as for the tests), curl, python3. Builds the release binary, unless
# LICENTIA_BIN names one already built.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${1:-1024}
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
start_server LICENTIA_MAX_UPLOAD=$(( (size_mib + 1) * 1024 * 1024 ))
token=$(login manager)
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
