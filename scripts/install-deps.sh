#!/usr/bin/env bash
# Installs what building and testing Vigil needs, only where it is missing (Debian packages, and
# the rustup component llvm-tools for the profile-guided build), and checks that
# the build will find it.
#
#   scripts/install-deps.sh            install what is missing (apt-get), then --check
#   scripts/install-deps.sh --check    install nothing; exit 1 naming each dependency the build
#                                      would not find
#   scripts/install-deps.sh --with monitoring   also the Prometheus tools (exporter, promtool,
#                                      Alertmanager, amtool) and PyYAML that the monitoring
#                                      tests use; their packaged services are not started
#
# libclang is looked for the way bindgen (clang-sys, in the redis-module crate's build script)
# looks for it: files named libclang.so, libclang-*.so, libclang.so.*, libclang-*.so.* that are
# 64-bit ELF files -- only in $LIBCLANG_PATH when it is set, else in `llvm-config --prefix`'s
# bin, lib and lib64, $LD_LIBRARY_PATH, $LIBRARY_PATH and the usual library directories. A name
# with "-cpp." (libclang-cpp.so.14, a different library that Debian's LLVM packages bring) does
# not count. VIGIL_LIB_DIRS (colon-separated) replaces all of those directories: tests use it
# to fake a machine.
set -euo pipefail

mode=install
extras=()
while [ $# -gt 0 ]; do
  case "$1" in
    --check) mode=check ;;
    --with) shift; extras+=("${1:-}") ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
    *) echo "install-deps: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done

# The directories clang-sys searches for libclang, in its order.
lib_dirs() {
  if [ -n "${VIGIL_LIB_DIRS:-}" ]; then
    tr ':' '\n' <<<"$VIGIL_LIB_DIRS"
    return
  fi
  # clang-sys looks nowhere else when LIBCLANG_PATH is set (a file is handled by find_libclang).
  if [ -n "${LIBCLANG_PATH:-}" ]; then
    echo "$LIBCLANG_PATH"
    return
  fi
  local prefix d
  if command -v llvm-config >/dev/null 2>&1 && prefix=$(llvm-config --prefix 2>/dev/null); then
    printf '%s\n' "$prefix/bin" "$prefix/lib" "$prefix/lib64"
  fi
  [ -n "${LD_LIBRARY_PATH:-}" ] && tr ':' '\n' <<<"$LD_LIBRARY_PATH"
  [ -n "${LIBRARY_PATH:-}" ] && tr ':' '\n' <<<"$LIBRARY_PATH"
  # clang-sys's directory patterns for Linux.
  for d in /usr/local/llvm*/lib* /usr/local/lib*/*/* /usr/local/lib*/* /usr/local/lib* \
           /usr/lib*/*/* /usr/lib*/* /usr/lib*; do
    [ -d "$d" ] && echo "$d"
  done
  return 0
}

# Whether bindgen would load this file as libclang: one of the names it searches for, without
# "-cpp." (clang-sys skips those), and a 64-bit ELF file (clang-sys validates the header and
# skips anything else: an empty or truncated file, a 32-bit library).
is_libclang() {
  local base
  base=$(basename "$1")
  case "$base" in *-cpp.*) return 1 ;; esac
  case "$base" in libclang.so | libclang-*.so | libclang.so.* | libclang-*.so.*) ;; *) return 1 ;; esac
  [ "$(head -c 5 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 7f454c4602 ]
}

# A library file bindgen would load as libclang; prints its path.
find_libclang() {
  local d f
  if [ -z "${VIGIL_LIB_DIRS:-}" ] && [ -f "${LIBCLANG_PATH:-}" ] && is_libclang "$LIBCLANG_PATH"; then
    echo "$LIBCLANG_PATH"
    return 0
  fi
  while IFS= read -r d; do
    [ -d "$d" ] || continue
    for f in "$d"/libclang.so "$d"/libclang-*.so "$d"/libclang.so.* "$d"/libclang-*.so.*; do
      if [ -e "$f" ] && is_libclang "$f"; then
        echo "$f"
        return 0
      fi
    done
  done < <(lib_dirs)
  return 1
}

# clang's builtin headers (stddef.h), which bindgen needs beside libclang.
find_clang_headers() {
  local d f
  if [ -n "${VIGIL_LIB_DIRS:-}" ]; then
    while IFS= read -r d; do
      for f in "$d"/clang/*/include/stddef.h; do [ -e "$f" ] && { echo "$f"; return 0; }; done
    done < <(lib_dirs)
    return 1
  fi
  for f in /usr/lib/llvm-*/lib/clang/*/include/stddef.h /usr/lib/clang/*/include/stddef.h; do
    [ -e "$f" ] && { echo "$f"; return 0; }
  done
  return 1
}

have() { command -v "$1" >/dev/null 2>&1; }

# A C toolchain that links: Rust links every crate (and the build scripts) with `cc`, and the
# redis-module crate compiles a C file; rustup installs neither. A fresh Debian with Rust from
# rustup has no gcc (found on a debootstrap'd bookworm: "linker `cc` not found").
links_c() {
  have cc || return 1
  local dir
  dir=$(mktemp -d)
  printf '#include <stdio.h>\nint main(void) { return 0; }\n' >"$dir/t.c"
  if cc "$dir/t.c" -o "$dir/t" >/dev/null 2>&1; then
    rm -rf "$dir"
    return 0
  fi
  rm -rf "$dir"
  return 1
}

# PyYAML for python3 on PATH or Debian's own python3 (tests/monitoring.rs tries both).
have_yaml() {
  local py
  for py in python3 /usr/bin/python3; do
    have "$py" && "$py" -c 'import yaml' >/dev/null 2>&1 && return 0
  done
  return 1
}

# "what is missing <tab> the Debian package that brings it"
missing() {
  links_c || printf 'a C compiler and linker (cc) with the C library headers\tgcc libc6-dev\n'
  have redis-server || printf 'redis-server\tredis-server\n'
  have redis-cli || printf 'redis-cli\tredis-tools\n'
  have redis-benchmark || printf 'redis-benchmark\tredis-tools\n'
  if ! find_libclang >/dev/null; then
    if [ -z "${VIGIL_LIB_DIRS:-}" ] && [ -n "${LIBCLANG_PATH:-}" ]; then
      printf 'libclang in LIBCLANG_PATH=%s (bindgen looks only there while it is set)\tlibclang1-14\n' "$LIBCLANG_PATH"
    else
      printf 'libclang (a 64-bit libclang.so* where bindgen looks; libclang-cpp does not count)\tlibclang1-14\n'
    fi
  fi
  find_clang_headers >/dev/null || printf "clang's builtin headers (stddef.h)\tlibclang-common-14-dev\n"
  have python3 || printf 'python3\tpython3\n'
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || printf 'python3 venv\tpython3-venv\n'
  local x
  for x in "${extras[@]}"; do
    case "$x" in
      monitoring)
        have prometheus-redis-exporter || printf 'redis_exporter\tprometheus-redis-exporter\n'
        have promtool || printf 'promtool\tprometheus\n'
        have prometheus-alertmanager || printf 'alertmanager\tprometheus-alertmanager\n'
        have amtool || printf 'amtool\tprometheus-alertmanager\n'
        have_yaml || printf 'PyYAML (python3 -c "import yaml")\tpython3-yaml\n'
        ;;
      "") ;;
      *) echo "install-deps: unknown extra '$x'" >&2; exit 2 ;;
    esac
  done
}

report() {
  local what pkg bad=0
  while IFS=$'\t' read -r what pkg; do
    [ -n "$what" ] || continue
    echo "install-deps: missing $what (Debian package $pkg)" >&2
    bad=1
  done <<<"$(missing)"
  if ! have cargo; then
    echo "install-deps: cargo not found: install Rust (rustup) first" >&2
    bad=1
  fi
  return $bad
}

# llvm-profdata for the rustc on PATH, where scripts/build.sh looks for it.
have_profdata() {
  have rustc || return 1
  local host
  host=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')
  [ -x "$(rustc --print sysroot 2>/dev/null)/lib/rustlib/$host/bin/llvm-profdata" ]
}

if [ "$mode" = check ]; then
  have_profdata || echo "install-deps: no llvm-profdata for this rustc (rustup component llvm-tools): make build will be a plain release build, without PGO" >&2
  report && echo "install-deps: everything the build and tests need is present (libclang: $(find_libclang))"
  exit $?
fi

need=$(missing | cut -f2 | sort -u | tr '\n' ' ')
if [ -n "${need// /}" ]; then
  echo "installing: $need"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # Debian's packages start their services on install (redis-server on 6379, Prometheus on
  # :9090, the exporter on :9121, Alertmanager on :9093 and its cluster port :9094 on every
  # interface): the tests start their own, on free loopback ports. invoke-rc.d and
  # deb-systemd-invoke ask policy-rc.d first; exit 101 means "do not start". An existing
  # policy-rc.d (a container's) is left as it is.
  policy=/usr/sbin/policy-rc.d
  own_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# install-deps.sh (Vigil): no service starts during this install\nexit 101\n' \
      | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    own_policy=1
    trap '$SUDO rm -f "$policy"' EXIT
  fi
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
  if [ -n "$own_policy" ]; then
    $SUDO rm -f "$policy"
    trap - EXIT
  fi
  for svc in redis-server prometheus prometheus-redis-exporter prometheus-alertmanager; do
    [[ " $need " == *" $svc "* ]] || continue
    # Nor at boot (systemctl disables offline too, where systemd does not run).
    if have systemctl; then
      $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
    fi
    # A daemon started anyway (a policy-rc.d that allowed it, sysvinit without systemd): stop
    # it by its pid file, the one its init script writes.
    for pidfile in "/run/prometheus/$svc.pid" "/run/redis/$svc.pid" "/run/$svc.pid"; do
      [ -s "$pidfile" ] || continue
      pid=$(cat "$pidfile")
      if [ -n "$pid" ] && $SUDO kill -0 "$pid" 2>/dev/null; then
        echo "install-deps: stopping $svc (pid $pid from $pidfile), started by its package"
        $SUDO kill "$pid" || true
      fi
    done
  done
fi
# llvm-profdata of this rustc's LLVM, for the profile-guided build (scripts/build.sh): the
# rustup component llvm-tools. Optional: without it `make build` makes a plain release build.
if ! have_profdata && have rustup; then
  echo "installing: the rustup component llvm-tools (llvm-profdata, for the profile-guided build)"
  rustup component add llvm-tools >/dev/null 2>&1 ||
    echo "install-deps: could not add llvm-tools; the build will be a plain one (no PGO)" >&2
fi
report && echo "install-deps: ok (libclang: $(find_libclang))"
