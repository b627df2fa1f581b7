#!/usr/bin/env bash
# The training run of the profile-guided build (scripts/build.sh): one redis-server on a free
# loopback port, in its own temporary directory, loads the instrumented module and takes the
# common paths of every command family from redis-benchmark and redis-cli (alerts added new,
# duplicated and rate-limited, read back with and without filters, acknowledged, resolved,
# grouped, silenced; quotas counted, with and without thresholds; keys tracked and evicted; a
# save and a reload). The module writes its profile when the server exits (SHUTDOWN).
#
#   scripts/pgo-train.sh <instrumented libvigil.so> <profile file pattern (%m for the module)>
#
# TRAIN_OPS (default 100000) sets the size of the larger runs: the profile records how often
# each branch goes which way, which a short run measures as well as a long one. TRAIN_PORT
# gives the port (default: a free one); TRAIN_REPORT=1 prints INFO commandstats and INFO vigil
# at the end (tests/pgo_train.rs checks that every call succeeded). VIGIL_REDIS_SERVER names
# another server binary.
set -euo pipefail

module=$(realpath "$1")
profile=$2
ops=${TRAIN_OPS:-100000}
server=${VIGIL_REDIS_SERVER:-redis-server}

dir=$(mktemp -d)
pid=
cleanup() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 143' TERM INT # the server is stopped on a timeout too (scripts/build.sh's)

# TRAIN_PORT, or a free loopback port: one nobody answers on (bash's /dev/tcp).
port=${TRAIN_PORT:-}
while [[ -z $port ]]; do
    port=$((20000 + RANDOM % 40000))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then port=; fi
done

cd "$dir"
LLVM_PROFILE_FILE=$profile "$server" --port "$port" --bind 127.0.0.1 --dir "$dir" \
    --save '' --appendonly no --enable-debug-command yes --loadmodule "$module" \
    --logfile "$dir/server.log" &
pid=$!
up=
for _ in $(seq 1 100); do
    if redis-cli -p "$port" PING >/dev/null 2>&1; then up=1 && break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [[ -z $up ]]; then
    echo "pgo-train: the server did not start; its log:" >&2
    cat "$dir/server.log" >&2 || true
    exit 1
fi

cli() { redis-cli -p "$port" "$@" >/dev/null; }
run() { # ops, then the command (redis-benchmark replaces __rand_int__ with a number below $ops)
    local n=$1
    shift
    redis-benchmark -p "$port" -c 20 -P 16 -r "$ops" -n "$n" "$@" >/dev/null
}

msg="disk usage above threshold on volume; please look at the data directory and the logs"
new='{"severity":"high","source":"svc-__rand_int__","type":"disk_full","labels":{"host":"h-__rand_int__","disk":"d-1"},"message":"'$msg'"}'
low='{"severity":"low","source":"svc-__rand_int__","type":"cpu","labels":{"host":"h-__rand_int__"},"message":"'$msg'"}'
dup='{"severity":"critical","source":"db","type":"down","labels":{"host":"h-1"},"message":"'$msg'"}'
fp='{"severity":"medium","source":"svc-__rand_int__","fingerprint":"f-__rand_int__","labels":{"host":"h-1"},"message":"'$msg'"}'

# Alerts: a full stream trimmed at every add, dedup and a rate limit on.
cli ALERT.CREATE 'train:{a}' RETENTION 2592000000 MAXLEN 10000 DEDUP 300000 RATELIMIT 100 1000
run "$ops" ALERT.ADD 'train:{a}' "$new"
run $((ops / 2)) ALERT.ADD 'train:{a}' "$low"
run $((ops / 4)) ALERT.ADD 'train:{a}' "$dup"
run $((ops / 4)) ALERT.ADD 'train:{a}' "$fp"
cli ALERT.CREATE 'train:{n}' RETENTION 0 MAXLEN 0 DEDUP 0
run $((ops / 4)) ALERT.ADD 'train:{n}' "$low"
cli ALERT.CREATE 'train:{l}' MAXLEN 1000 RATELIMIT 1 3600000
run $((ops / 4)) ALERT.ADD 'train:{l}' "$dup"
run $((ops / 10)) ALERT.RANGE 'train:{a}' - + REV COUNT 100 MINSEVERITY high
run $((ops / 20)) ALERT.RANGE 'train:{a}' - + COUNT 100
run $((ops / 20)) ALERT.RANGE 'train:{a}' - + REV COUNT 10 SOURCE svc-7
run $((ops / 20)) ALERT.RANGE 'train:{a}' - + REV COUNT 10 TYPE cpu LABEL host=h-1
run $((ops / 20)) ALERT.READ 'train:{a}' AFTER 0 COUNT 100
run $((ops / 100)) ALERT.GROUPS 'train:{a}' - + BY source
run $((ops / 100)) ALERT.GROUPS 'train:{a}' - + BY severity MINSEVERITY medium
run $((ops / 10)) ALERT.INFO 'train:{a}'
ids=$(redis-cli -p "$port" --raw ALERT.RANGE 'train:{a}' - + COUNT 200 |
    sed -n 's/.*"id":"\([0-9-]*\)".*/\1/p')
for id in $ids; do
    echo "ALERT.GET train:{a} $id"
    echo "ALERT.ACK train:{a} $id"
done | redis-cli -p "$port" >/dev/null
for id in $ids; do echo "ALERT.RESOLVE train:{a} $id"; done | redis-cli -p "$port" >/dev/null
cli ALERT.SILENCE 'train:{a}' UNTIL 9999999999999 SOURCE svc-3 COMMENT training
run $((ops / 4)) ALERT.ADD 'train:{a}' "$new"
cli ALERT.SILENCES 'train:{a}'
run $((ops / 20)) ALERT.READ 'train:{a}' AFTER 0 COUNT 100 WITHSILENCED

# Quotas: cumulative with a limit, a window, thresholds raising alerts.
run "$ops" QUOTA.INCR 'train:{q}:__rand_int__' 1.5 LIMIT 1000000000000
cli QUOTA.SET 'train:{w}' LIMIT 1000000 WINDOW 60000
run $((ops / 2)) QUOTA.INCR 'train:{w}' 1
cli QUOTA.SET 'train:{t}' LIMIT 1000 ALERTS 'train:{t}:alerts' AT 50 90
run $((ops / 4)) QUOTA.INCR 'train:{t}' 1
run $((ops / 4)) QUOTA.INCR 'train:{t}' -1
run $((ops / 4)) QUOTA.GET 'train:{q}:__rand_int__'

# LRU trackers: keys made, touched, evicted (with a quota released), listed.
run "$ops" SET 'train:{k}:__rand_int__' vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv
run "$ops" LRU.TOUCH 'train:{k}:lru' 'train:{k}:__rand_int__' 100
run $((ops / 4)) LRU.TOUCH 'train:{k}:lru' 'train:{k}:__rand_int__' 100 'train:{k}:__rand_int__' 50
cli QUOTA.INCR 'train:{k}:quota' 100000000
run $((ops / 100)) LRU.EVICT 'train:{k}:lru' 0 MAX 10 QUOTA 'train:{k}:quota'
run $((ops / 100)) LRU.CANDIDATES 'train:{k}:lru' 10
run $((ops / 10)) LRU.INFO 'train:{k}:lru'
cli QUOTA.SET 'train:{k}:cap' LIMIT 1000
run $((ops / 20)) QUOTA.INCR 'train:{k}:cap' 100 EVICT 'train:{k}:lru' MAX 10

# Persistence: a save and a load of everything above.
cli DEBUG RELOAD
cli INFO vigil
# TRAIN_REPORT=1 shows what ran (calls, and the calls that failed: a command the training
# gets wrong trains only its error path).
if [[ -n ${TRAIN_REPORT:-} ]]; then redis-cli -p "$port" INFO commandstats >&2; fi
if [[ -n ${TRAIN_REPORT:-} ]]; then redis-cli -p "$port" INFO vigil >&2; fi

redis-cli -p "$port" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
wait "$pid" || true
pid=
