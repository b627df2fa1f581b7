#!/usr/bin/env bash
# The Python package (client/python): builds its wheel with maturin (release, in the
# workspace's target dir), installs it in a venv under target/ and runs its pytest suite
# against real redis-servers with the module (target/release/libvigil.so: `make build`).
# The venv is made once, with maturin and pytest from PyPI, and reused while the pins below
# are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/python-venv
pins="maturin==1.16.0 pytest==8.4.2"
module=${VIGIL_MODULE:-$(pwd)/target/release/libvigil.so}
if [ ! -f "$module" ]; then
  echo "test-python: $module is missing: run 'make build' first" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/vigil-pins" 2>/dev/null)" != "$pins" ]; then
  python3 -m venv --clear "$venv"
  # shellcheck disable=SC2086 # the pins are words
  "$venv/bin/pip" install --quiet --disable-pip-version-check $pins
  echo "$pins" >"$venv/vigil-pins"
fi
start=$(date +%s)
rm -f target/wheels/vigil_client-*.whl
"$venv/bin/maturin" build --release --quiet -m client/python/Cargo.toml --out target/wheels \
  --interpreter "$venv/bin/python"
"$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps \
  target/wheels/vigil_client-*.whl
built=$(date +%s)
echo "test-python: wheel built and installed in $((built - start)) s"
VIGIL_MODULE="$module" "$venv/bin/python" -m pytest client/python/tests -q -p no:cacheprovider \
  --durations=5
echo "test-python: pytest took $(($(date +%s) - built)) s"
