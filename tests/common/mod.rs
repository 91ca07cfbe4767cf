//! Helpers shared by the integration tests: run the real binary, locate the
//! sample data, compare with golden files (UPDATE_GOLDEN=1 rewrites them).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// MaxMind's official test databases: `TOKENHOUND_MAXMIND_TEST_DIR`, else the
/// copy vendored in tests/data/maxmind-test (every clone has it).
pub fn maxmind_dir() -> PathBuf {
    std::env::var_os("TOKENHOUND_MAXMIND_TEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("tests/data/maxmind-test"))
}

pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tokenhound"));
    c.current_dir(root());
    c.env_remove("TOKENHOUND_CONFIG").env_remove("TOKENHOUND_LOG");
    c
}

/// The flags that point replay at the sample databases, keys and revocations.
pub fn sample_flags() -> Vec<String> {
    [
        "--rules",
        "rules",
        "--geo-city",
        "sample-logs/geo/sample-city.mmdb",
        "--geo-asn",
        "sample-logs/geo/sample-asn.mmdb",
        "--jwks",
        "sample-logs/keys/idp-jwks.json",
        "--revocations",
        "sample-logs/revocations.ndjson",
    ]
    .map(String::from)
    .to_vec()
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run tokenhound")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Compare with a golden file, or rewrite it when UPDATE_GOLDEN is set.
pub fn golden(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|_| panic!("missing golden file {} (UPDATE_GOLDEN=1 writes it)", path.display()));
    if expected != actual {
        let first = expected.lines().zip(actual.lines()).position(|(a, b)| a != b);
        panic!(
            "{} differs from the output (first differing line: {:?}); rerun with UPDATE_GOLDEN=1 after checking the change\n--- actual ---\n{actual}",
            path.display(),
            first.map(|i| i + 1)
        );
    }
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}
