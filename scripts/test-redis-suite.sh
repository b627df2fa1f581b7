#!/usr/bin/env bash
# Redis's own test suite (tests/ of the redis 7.0.15 source, run by its ./runtest) against the
# installed redis-server twice: without the module, then with it loaded into every server the
# suite starts (--config loadmodule target/release/libvigil.so). Test by test, a test that
# passes without the module and does not pass with it is a regression: the script fails if
# there is one, and prints both runs' counts and times.
#
# Where the tests come from, in this order:
#   REDIS_SRC=<dir>    a redis checkout or unpacked tarball of the installed version;
#   target/redis-suite/redis-<version>/, unpacked by an earlier run;
#   Debian's source package of redis (`apt-get source --download-only redis`), which needs a
#   deb-src entry in /etc/apt/sources.list.d (the script says how when it is missing).
# The suite runs the source tree's src/redis-server: it is linked to the installed binaries
# (redis-server, redis-cli, redis-benchmark, redis-check-aof, redis-check-rdb).
#
# Options (environment): SUITE_CLIENTS (parallel test clients, default 4), SUITE_ARGS (more
# ./runtest arguments, e.g. "--single unit/dump"), MODULE (default target/release/libvigil.so),
# SUITE_COMPARE_ONLY=1 (compare the logs of the last runs again, running nothing).
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
module="${MODULE:-$repo/target/release/libvigil.so}"
work="$repo/target/redis-suite"
clients="${SUITE_CLIENTS:-4}"
version="$(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p')"
mkdir -p "$work"

if [[ -n "${REDIS_SRC:-}" ]]; then
    src="$REDIS_SRC"
else
    src="$work/redis-$version"
    if [[ ! -x "$src/runtest" ]]; then
        (
            cd "$work"
            if ! apt-get source --download-only "redis=$(dpkg-query -W -f='${Version}' redis-server)" >/dev/null 2>&1 &&
                ! apt-get source --download-only redis >/dev/null 2>&1; then
                cat >&2 <<MSG
No redis source to take the tests from. Either give one:
    REDIS_SRC=/path/to/redis-$version make test-redis-suite
(a checkout of tag $version of https://github.com/redis/redis, or its release tarball), or
let apt fetch Debian's source package: add /etc/apt/sources.list.d/debian-src.sources with
    Types: deb-src
    URIs: http://deb.debian.org/debian
    Suites: bookworm bookworm-updates
    Components: main
    Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
then run apt-get update.
MSG
                exit 2
            fi
            tar xzf redis_"$version".orig.tar.gz
        )
    fi
fi
[[ -f "$module" ]] || { echo "$module is missing: run make build" >&2; exit 2; }
for bin in redis-server redis-cli redis-benchmark redis-check-aof redis-check-rdb; do
    ln -sf "$(command -v "$bin")" "$src/src/$bin"
done

run() {
    local name="$1"
    shift
    local log="$work/$name.log"
    echo "== ./runtest $* (log: $log)"
    local start=$SECONDS
    # The suite exits non-zero when a test fails; the comparison below decides.
    (cd "$src" && ./runtest --clients "$clients" --timeout 1200 ${SUITE_ARGS:-} "$@" >"$log" 2>&1) || true
    echo "   $name: $((SECONDS - start)) s"
}

if [[ -z "${SUITE_COMPARE_ONLY:-}" ]]; then
    run without
    run with --config loadmodule "$module"
fi

# A test that fails with the module is run again, alone, in its unit (one client): one that
# then passes failed for the load of the machine (client-eviction and replication tests are
# timing-sensitive), not for the module; one that fails again is a regression.
python3 - "$work" "$src" "$module" <<'PY'
import re, subprocess, sys
from collections import Counter

work, src, module = sys.argv[1:4]

def results(text):
    """Passed and failed tests, by name with numbers masked (PSYNC2 names random layouts)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    ok, bad, units = Counter(), Counter(), set()
    for m in re.finditer(r"^\[(ok|err|exception|timeout)\]: (.*?)(?: \(\d+ ms\))?$", text, re.M):
        kind, name = m.group(1), m.group(2)
        unit = re.search(r" in tests/(\S+)\.tcl$", name)
        if unit:
            units.add(unit.group(1))
            name = name[: unit.start()]
        name = re.sub(r"\d+", "N", name.strip())
        (ok if kind == "ok" else bad)[name] += 1
    return ok, bad, units, text

def read(name):
    return results(open(f"{work}/{name}.log", errors="replace").read())

ok0, bad0, _, _ = read("without")
ok1, bad1, units, text1 = read("with")
for label, ok, bad in (("without the module", ok0, bad0), ("with the module", ok1, bad1)):
    print(f"{label}: {sum(ok.values())} passed, {sum(bad.values())} failed")
for n in sorted(bad0):
    print(f"  fails without the module too: {n}")
if "[exception]" in text1:
    print("the run with the module stopped at an exception: the tests after it did not run")
# Some tests repeat for a time, not a count (PSYNC2's cycles): a test is judged by whether it
# failed or went missing, not by how often it ran.
regressions = {n for n in ok0 if n in bad1 or n not in ok1}
if regressions and units:
    for unit in sorted(units):
        print(f"  running {unit} again, alone, with the module")
        run = subprocess.run(
            ["./runtest", "--clients", "1", "--single", unit, "--config", "loadmodule", module],
            cwd=src, capture_output=True, text=True)
        open(f"{work}/rerun-{unit.replace('/', '-')}.log", "w").write(run.stdout + run.stderr)
        ok2, _, _, _ = results(run.stdout)
        for n in sorted(regressions & set(ok2)):
            print(f"  failed under load, passes when run again: {n}")
        regressions -= set(ok2)
if regressions:
    print(f"{len(regressions)} regression(s) with the module:")
    for n in sorted(regressions):
        print(f"  {n}")
    sys.exit(1)
print("no regression")
PY
