# Shared by the measurement scripts: a scratch database and folder, `licentia serve` started on a
# free port with the demo workspace, and logins from the demo users it prints. Source it after
# `cd` to the repository root; it sets `work`, `port`, `api`, `pid` and cleans up on exit.
#   start_server [ENV=VALUE ...]   builds the release binary unless LICENTIA_BIN names one
#   login ROLE                     prints a bearer token for the demo user of that role

work=$(mktemp -d)
db="licentia_script_$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
api="http://127.0.0.1:$port/api/v1"
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

start_server() {
  local bin=${LICENTIA_BIN:-}
  if [ -z "$bin" ]; then
    cargo build --release -q -p licentia
    bin=./target/release/licentia
  fi
  env "$@" DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" LICENTIA_DATA_DIR="$work/data" \
    LICENTIA_LISTEN="127.0.0.1:$port" LICENTIA_LOG=warn "$bin" serve > "$work/out.txt" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do grep -q "listening" "$work/out.txt" 2>/dev/null && break; sleep 0.2; done
}

login() {
  local email password
  email=$(awk -v r="$1" '$1 == "DEMO-LOGIN" && $2 == r {print $3; exit}' "$work/out.txt")
  password=$(awk -v r="$1" '$1 == "DEMO-LOGIN" && $2 == r {print $4; exit}' "$work/out.txt")
  curl -s "$api/auth/token" -H 'content-type: application/json' -d "{\"email\":\"$email\",\"password\":\"$password\"}" |
    python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])'
}
