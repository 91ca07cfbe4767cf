//! Embeds the shipped rules (rules/*.yml) in the binary, so an installed
//! tokenhound, run from any directory, has them (`--rules DIR` replaces
//! them, `--extra-rules DIR` adds to them).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // read at run time: a build script binary can be reused for another
    // checkout of the crate (a shared target directory)
    let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join("rules");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("rules/ is part of the crate")
        .map(|e| e.expect("readable rules/").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
        .collect();
    files.sort();
    let mut out = String::from(
        "/// The shipped rule files: (file name, text), sorted by name.\npub const BUILTIN: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().unwrap().to_str().expect("UTF-8 rule file name");
        writeln!(out, "    ({name:?}, include_str!({:?})),", f.display().to_string()).unwrap();
    }
    out.push_str("];\n");
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("builtin_rules.rs");
    std::fs::write(dest, out).unwrap();
}
