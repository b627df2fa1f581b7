//! `scripts/install-deps.sh --check` finds libclang the way bindgen does: on a machine (a temporary
//! directory of fake library files, given as VIGIL_LIB_DIRS) where only libclang-cpp is present it
//! fails naming libclang1-14, and without clang's builtin headers it names
//! libclang-common-14-dev. A green check on such a machine once let `make test` fail on a fresh
//! clone (issue 9).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fake library directory, removed on drop.
struct FakeMachine {
    dir: PathBuf,
}

impl FakeMachine {
    fn new() -> FakeMachine {
        FakeMachine {
            dir: common::temp_dir("libdirs"),
        }
    }

    /// An empty file: what a name-only check would take for a library.
    fn empty(&self, name: &str) -> &Self {
        std::fs::write(self.dir.join(name), b"").unwrap();
        self
    }

    /// A file that starts as a 64-bit ELF library does, which is all bindgen's clang-sys
    /// checks before it loads a candidate.
    fn elf64(&self, name: &str) -> &Self {
        let mut header = vec![0u8; 64];
        header[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
        std::fs::write(self.dir.join(name), header).unwrap();
        self
    }

    /// clang's builtin headers as libclang-common-14-dev lays them out beside the library.
    fn headers(&self) -> &Self {
        let include = self.dir.join("clang/14/include");
        std::fs::create_dir_all(&include).unwrap();
        std::fs::write(include.join("stddef.h"), b"").unwrap();
        self
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for FakeMachine {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `install-deps.sh --check` with these environment variables set, LIBCLANG_PATH and
/// VIGIL_LIB_DIRS removed unless given.
fn check(env: &[(&str, &Path)]) -> Outcome {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-deps.sh");
    let mut cmd = Command::new(&script);
    cmd.arg("--check")
        .env_remove("LIBCLANG_PATH")
        .env_remove("VIGIL_LIB_DIRS");
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn check_dirs(machine: &FakeMachine) -> Outcome {
    check(&[("VIGIL_LIB_DIRS", &machine.dir)])
}

const LIBCLANG_PACKAGE: &str = "libclang1-14";
const HEADERS_PACKAGE: &str = "libclang-common-14-dev";

/// Every other dependency is present on the machine `make test` runs on (it runs the real
/// check first), so a fake machine with libclang and its headers passes as a whole.
fn assert_passes(out: &Outcome, libclang: &Path) {
    assert_eq!(out.code, Some(0), "the check should pass: {out:?}");
    assert!(
        out.stdout
            .contains(&format!("(libclang: {})", libclang.display())),
        "the check should name the library it found: {out:?}"
    );
}

#[test]
fn only_libclang_cpp_is_rejected_naming_libclang1() {
    let m = FakeMachine::new();
    m.empty("libclang-cpp.so.14").headers();
    let out = check_dirs(&m);
    assert_eq!(out.code, Some(1), "libclang-cpp is not libclang: {out:?}");
    assert!(out.stderr.contains(LIBCLANG_PACKAGE), "{out:?}");
    assert!(
        !out.stderr.contains(HEADERS_PACKAGE),
        "the headers are there: {out:?}"
    );

    // Other spellings of libclang-cpp do not count either (clang-sys skips any name with
    // "-cpp.").
    let m = FakeMachine::new();
    m.elf64("libclang-cpp.so.14")
        .elf64("libclang-cpp.so")
        .headers();
    let out = check_dirs(&m);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains(LIBCLANG_PACKAGE), "{out:?}");
}

#[test]
fn libclang_beside_libclang_cpp_passes() {
    let m = FakeMachine::new();
    m.empty("libclang-cpp.so.14")
        .headers()
        .elf64("libclang.so.1");
    let out = check_dirs(&m);
    assert!(!out.stderr.contains(LIBCLANG_PACKAGE), "{out:?}");
    assert_passes(&out, &m.path("libclang.so.1"));

    // The other names bindgen looks for: Debian's own (libclang-14.so.1) and the unversioned.
    for name in ["libclang-14.so.1", "libclang.so", "libclang-14.so"] {
        let m = FakeMachine::new();
        m.empty("libclang-cpp.so.14").headers().elf64(name);
        assert_passes(&check_dirs(&m), &m.path(name));
    }
}

#[test]
fn a_libclang_that_is_no_library_is_rejected() {
    // bindgen validates the ELF header of every candidate and skips an empty or truncated file.
    let m = FakeMachine::new();
    m.empty("libclang-cpp.so.14")
        .headers()
        .empty("libclang.so.1");
    let out = check_dirs(&m);
    assert_eq!(out.code, Some(1), "an empty file is no library: {out:?}");
    assert!(out.stderr.contains(LIBCLANG_PACKAGE), "{out:?}");
}

#[test]
fn missing_headers_are_rejected_naming_libclang_common() {
    let m = FakeMachine::new();
    m.elf64("libclang.so.1");
    let out = check_dirs(&m);
    assert_eq!(out.code, Some(1), "no stddef.h: {out:?}");
    assert!(out.stderr.contains(HEADERS_PACKAGE), "{out:?}");
    assert!(
        !out.stderr.contains(LIBCLANG_PACKAGE),
        "libclang is there: {out:?}"
    );

    // Neither library nor headers: both named.
    let m = FakeMachine::new();
    m.empty("libclang-cpp.so.14");
    let out = check_dirs(&m);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains(LIBCLANG_PACKAGE), "{out:?}");
    assert!(out.stderr.contains(HEADERS_PACKAGE), "{out:?}");
}

#[test]
fn libclang_path_is_the_only_place_looked_at_when_set() {
    // bindgen searches LIBCLANG_PATH alone when it is set: a libclang elsewhere on this machine
    // does not help a build whose LIBCLANG_PATH holds only libclang-cpp.
    let m = FakeMachine::new();
    m.empty("libclang-cpp.so.14");
    let out = check(&[("LIBCLANG_PATH", &m.dir)]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("LIBCLANG_PATH") && out.stderr.contains(LIBCLANG_PACKAGE),
        "{out:?}"
    );

    // LIBCLANG_PATH may name the library file itself, or its directory.
    m.elf64("libclang.so.1");
    assert_passes(
        &check(&[("LIBCLANG_PATH", &m.path("libclang.so.1"))]),
        &m.path("libclang.so.1"),
    );
    let out = check(&[("LIBCLANG_PATH", &m.dir)]);
    assert_eq!(out.code, Some(0), "{out:?}");
}
