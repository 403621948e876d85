#!/usr/bin/env bash
# Load benchmark: an open-loop, constant-arrival-rate mixed workload on loopback, driven by oha
# (`-q` fixes the arrival rate; `--latency-correction` counts latency from when each request was
# due, so a slow server cannot slow the load down and hide its own queueing).
#
# Usage: scripts/load.sh [--duration 10m] [--nodes 3] [--workers 2] [--scale 1.0]
#   --nodes N     `licentia serve` processes on one PostgreSQL (N=1: one node that also trains)
#   --workers M   separate `licentia worker` processes (with N>1 the serve nodes do not train)
#   --scale S     multiplies every class's arrival rate
# Needs: a local PostgreSQL (as for the tests), python3, oha (`cargo install --locked oha`, which
# needs cmake: `apt-get install cmake`). Builds the release binary.
#
# The mix (per second, before --scale), every request spread over the nodes by oha's URL regex,
# each class with the token of the user who would do it:
#   browse the registry    GET /api/v1/assets?limit=20                       (manager)   30
#   search the registry    GET /api/v1/assets?q=…                            (manager)   15
#   read agreements        GET /api/v1/agreements, /api/v1/agreements/{id}   (manager)   20
#   list the audit log     GET /api/v1/audit?limit=50                        (auditor)   10
#   launch small runs      POST /api/v1/runs (160 rows × 1 epoch)            (licensee)  1
# Prints per class: arrival rate asked and held, p50, p99, errors; the server processes' peak
# memory; then checks that no run was claimed twice, that one login works on every node, and
# that `licentia audit verify` passes.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10m nodes=3 workers=2 scale=1.0
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --workers) workers=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
oha=$(command -v oha || echo "$HOME/.cargo/bin/oha")
[ -x "$oha" ] || { echo "oha not found: cargo install --locked oha (needs cmake)" >&2; exit 2; }

work=$(mktemp -d)
db="licentia_load_$$"
url="postgres://postgres@127.0.0.1:5432/$db"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release -q -p licentia
bin=./target/release/licentia
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
common_env=(DATABASE_URL="$url" LICENTIA_DATA_DIR="$work/data" LICENTIA_LOG=warn)

# Node 1 seeds the demo workspace; the others join the same database and the same keys.
ports=()
serve_pids=()
for i in $(seq 1 "$nodes"); do
  port=$(free_port)
  ports+=("$port")
  training=0
  [ "$nodes" = 1 ] && [ "$workers" = 0 ] && training=1
  env "${common_env[@]}" LICENTIA_LISTEN="127.0.0.1:$port" LICENTIA_TRAINING_WORKERS=$training "$bin" serve > "$work/node$i.out" 2> "$work/node$i.err" &
  pids+=($!); serve_pids+=($!)
  for _ in $(seq 1 300); do grep -q "listening" "$work/node$i.out" 2>/dev/null && break; sleep 0.2; done
  grep -q "listening" "$work/node$i.out" || { cat "$work/node$i.err"; echo "node $i did not start" >&2; exit 1; }
done
worker_pids=()
for i in $(seq 1 "$workers"); do
  env "${common_env[@]}" "$bin" worker > "$work/worker$i.out" 2>&1 &
  pids+=($!); worker_pids+=($!)
done
base="http://127.0.0.1:${ports[0]}"
# oha's URL regex: dots and question marks as classes ("\." came out as a backslash and any char).
node_re="http://127[.]0[.]0[.]1:($(IFS='|'; echo "${ports[*]}"))"

login() {
  local email=$1 pw
  pw=$(awk -v e="$email" '$1 == "DEMO-LOGIN" && $3 == e {print $4; exit}' "$work/node1.out")
  curl -fsS "$base/api/v1/auth/token" -H 'content-type: application/json' -d "{\"email\":\"$email\",\"password\":\"$pw\"}" |
    python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])'
}
manager=$(login manager@aurora.example)
auditor=$(login auditor@aurora.example)
licensee=$(login licensee@borealis.example)
jget() { curl -fsS "$1" -H "authorization: Bearer $2"; }
pyq() { python3 -c "import sys,json; d=json.load(sys.stdin); print($1)"; }

# A licence without quotas on the demo's active agreement, and a small dataset to train on.
agreement=$(jget "$base/api/v1/agreements?status=active" "$manager" | pyq 'd["items"][0]["id"]')
licence=$(curl -fsS "$base/api/v1/licences" -H "authorization: Bearer $manager" -H 'content-type: application/json' \
  -d "{\"agreement_id\":\"$agreement\",\"templates\":[\"logistic-regression\"],\"valid_until\":\"2099-01-01T00:00:00Z\"}" | pyq 'd["id"]')
python3 -c '
import random
random.seed(7)
print("a,b,y")
for _ in range(200):
    a, b = random.random(), random.random()
    print(f"{a:.4f},{b:.4f},{int(a + b > 1)}")' > "$work/small.csv"
dataset=$(curl -fsS "$base/api/v1/datasets?name=load.csv" -H "authorization: Bearer $licensee" -H 'content-type: text/csv' \
  --data-binary @"$work/small.csv" | pyq 'd["id"]')
agreement_ids=$(jget "$base/api/v1/agreements?limit=50" "$manager" | pyq '"|".join(a["id"] for a in d["items"])')

# Sessions on every node: one browser login on node 1 (form, CSRF token, pre-session cookie), its
# session cookie then used on each node. Cookies by hand: they are __Host-/Secure, which curl
# would not send over plain http.
pw=$(awk '$1 == "DEMO-LOGIN" && $3 == "manager@aurora.example" {print $4; exit}' "$work/node1.out")
session_line=$(python3 - "$pw" "${ports[@]}" <<'PY'
import http.client, re, sys, urllib.parse
pw, ports = sys.argv[1], sys.argv[2:]
def conn(p): return http.client.HTTPConnection("127.0.0.1", int(p), timeout=30)
c = conn(ports[0]); c.request("GET", "/login"); r = c.getresponse(); page = r.read().decode()
pre = next(v.split(";")[0] for v in r.msg.get_all("Set-Cookie") if v.startswith("__Host-licentia-pre="))
csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
form = urllib.parse.urlencode({"csrf": csrf, "next": "/", "email": "manager@aurora.example", "password": pw})
c.request("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded", "Cookie": pre})
r = c.getresponse(); r.read()
session = next(v.split(";")[0] for v in r.msg.get_all("Set-Cookie") or [] if v.startswith("__Host-licentia="))
out = []
for p in ports:
    c = conn(p); c.request("GET", "/assets", headers={"Cookie": session}); r = c.getresponse(); r.read()
    out.append(f"node :{p} → {r.status}")
print("one browser session on every node: " + ", ".join(out))
PY
)

# Memory: each server process's resident set, sampled every second.
( while true; do
    for p in "${serve_pids[@]}" "${worker_pids[@]}"; do
      rss=$(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
      echo "$p $rss"
    done
    sleep 1
  done > "$work/rss.txt" ) &
sampler=$!
pids+=($sampler)

# oha misreads rates below 1/s (it sent a burst): at least 1.
rate() { python3 -c "print(max(1, round($1 * $scale)))"; }
run_class() { # name rate token method url-regex [body]
  local name=$1 q; q=$(rate "$2")
  local args=(-z "$duration" -q "$q" -c 64 --latency-correction --no-tui --output-format json -t 30s -H "authorization: Bearer $3" -m "$4" --rand-regex-url "$5")
  [ $# -ge 6 ] && args+=(-T application/json -d "$6")
  "$oha" "${args[@]}" > "$work/$name.json" 2> "$work/$name.err" &
  pids+=($!); echo $! > "$work/$name.pid"
  echo "$name $q" >> "$work/classes.txt"
}
hyper='{"template":"logistic-regression","target":"y","epochs":1,"batch_size":32}'
echo "load: $nodes serve node(s), $workers worker process(es), $duration, scale $scale"
run_class browse 30 "$manager" GET "$node_re/api/v1/assets[?]limit=20"
run_class search 15 "$manager" GET "$node_re/api/v1/assets[?]q=(gradient|model|patent|licence|neural|battery)"
run_class agreements 20 "$manager" GET "$node_re/api/v1/agreements(|/($agreement_ids))"
run_class audit 10 "$auditor" GET "$node_re/api/v1/audit[?]limit=50"
run_class runs 1 "$licensee" POST "$node_re/api/v1/runs" "{\"licence_id\":\"$licence\",\"dataset_id\":\"$dataset\",\"hyper\":$hyper}"
for c in browse search agreements audit runs; do wait "$(cat "$work/$c.pid")" || true; done

# Let the queue drain, then look for double claims.
for _ in $(seq 1 120); do
  left=$(psql -h 127.0.0.1 -U postgres -d "$db" -tAc "SELECT count(*) FROM runs WHERE status IN ('queued', 'running')")
  [ "$left" = 0 ] && break
  sleep 1
done
kill "$sampler" 2>/dev/null || true
runs_summary=$(psql -h 127.0.0.1 -U postgres -d "$db" -tAc "SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM runs GROUP BY status ORDER BY status) s")
twice=$(psql -h 127.0.0.1 -U postgres -d "$db" -tAc "SELECT count(*) FROM (SELECT target_id FROM audit_log WHERE action IN ('run.succeeded', 'run.failed', 'run.cancelled') GROUP BY target_id HAVING count(*) > 1) d")
reclaimed=$(psql -h 127.0.0.1 -U postgres -d "$db" -tAc "SELECT count(*) FROM runs WHERE attempts > 1")
by_worker=$(psql -h 127.0.0.1 -U postgres -d "$db" -tAc "SELECT string_agg(coalesce(worker_id, '-') || ' ' || n, ', ') FROM (SELECT worker_id, count(*) n FROM runs GROUP BY worker_id ORDER BY worker_id) s")

python3 - "$work" <<'EOF'
import json, sys, collections
work = sys.argv[1]
# Requests still in flight when the run's time is up are cut off by oha ("aborted due to
# deadline"): counted apart, they are not answers the server got wrong.
print(f"{'class':<12}{'asked/s':>9}{'held/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}{'errors':>8}{'cut off':>9}")
for line in open(f"{work}/classes.txt"):
    name, asked = line.split()
    try:
        d = json.load(open(f"{work}/{name}.json"))
    except Exception as e:
        print(f"{name:<12} no result ({e}): {open(f'{work}/{name}.err').read()[:300]}")
        continue
    s, lat = d["summary"], d.get("latencyPercentiles", {})
    codes = {int(k): v for k, v in d.get("statusCodeDistribution", {}).items()}
    failures = dict(d.get("errorDistribution", {}))
    cut = failures.pop("aborted due to deadline", 0)
    total = sum(codes.values()) + sum(failures.values())
    errors = total - sum(v for k, v in codes.items() if 200 <= k < 300)
    p = lambda k: f"{(lat.get(k) or 0) * 1000:.1f}"
    print(f"{name:<12}{asked:>9}{s.get('requestsPerSec', 0):>9.2f}{p('p50'):>9}{p('p99'):>9}{total:>10}{errors:>8}{cut:>9}")
    if errors:
        print(f"  {name}: status {dict(codes)} errors {d.get('errorDistribution')}")
peak = collections.defaultdict(int)
for line in open(f"{work}/rss.txt"):
    pid, kb = line.split()
    peak[pid] = max(peak[pid], int(kb))
print("peak resident memory per process (MiB): " + ", ".join(f"{pid}: {kb / 1024:.0f}" for pid, kb in sorted(peak.items())))
EOF
echo "runs: $runs_summary; by worker: $by_worker; claimed more than once: $reclaimed; finished more than once: $twice"
echo "$session_line"
env "${common_env[@]}" "$bin" audit verify | tail -1
[ "$twice" = 0 ] && [ "$reclaimed" = 0 ] || { echo "a run was claimed twice" >&2; exit 1; }
