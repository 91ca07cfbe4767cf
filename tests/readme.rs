//! Every command the README shows is run here as it is written (in its
//! ```sh blocks; `tokenhound` and `cargo run --release --` are the built
//! binary), from a scratch directory that sees the repository's
//! `sample-logs/`, in order, so a README that drifts from the binary fails.
//! The long-running services (`stream`, `respond`) are started against the
//! test broker and must come up ready.
#![allow(clippy::disallowed_methods)] // waits on the wall clock

mod common;
#[path = "common/kafka.rs"]
mod kafka;

use std::time::{Duration, Instant};

use common::*;
use kafka::{free_port, tansu, StreamProc};

/// The commands of the README's ```sh blocks, in order.
fn readme_commands() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let (mut out, mut in_sh) = (Vec::new(), false);
    for line in text.lines() {
        if let Some(info) = line.strip_prefix("```") {
            in_sh = !in_sh && info.trim() == "sh";
            continue;
        }
        if in_sh && !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            out.push(line.trim().to_string());
        }
    }
    out
}

/// A command line as the binary's arguments (the README quotes nothing).
fn args_of(cmd: &str) -> Option<Vec<String>> {
    let rest = cmd.strip_prefix("cargo run --release -- ").or_else(|| cmd.strip_prefix("tokenhound "))?;
    Some(rest.split_whitespace().map(String::from).collect())
}

#[test]
fn every_readme_command_runs() {
    let cmds = readme_commands();
    assert!(cmds.len() >= 10, "the README's ```sh blocks: {cmds:?}");
    assert!(cmds[0].starts_with("cargo run --release -- replay"), "the README leads with the sample alerts: {cmds:?}");
    let dir = tempdir();
    std::os::unix::fs::symlink(root().join("sample-logs"), dir.path().join("sample-logs")).unwrap();
    let brokers = tansu();
    let mut ran = std::collections::BTreeSet::new();
    for cmd in &cmds {
        if cmd == "scripts/test.sh" {
            continue; // the test command: it is what runs this test
        }
        if let Some(rest) = cmd.strip_prefix("cargo install --path . ") {
            // a release build of everything takes minutes: the test binary
            // is that build (`--all-features`); check the features it names
            features_exist(rest);
            continue;
        }
        if let Some(rest) = cmd.strip_prefix("scripts/kafka-topics.sh ") {
            let Some(b) = &brokers else { continue };
            let st = std::process::Command::new(root().join("scripts/kafka-topics.sh"))
                .arg(rest.replace("127.0.0.1:9092", b))
                .env("TANSU", kafka::tansu_bin())
                .status()
                .unwrap();
            assert!(st.success(), "README command failed: {cmd}");
            continue;
        }
        let args = args_of(cmd).unwrap_or_else(|| panic!("README command the test cannot run: {cmd}"));
        let sub = args[0].clone();
        ran.insert(sub.clone());
        if sub == "stream" || sub == "respond" {
            let Some(b) = &brokers else { continue };
            service_comes_up(dir.path(), &args, b);
            continue;
        }
        let out = bin().current_dir(dir.path()).args(&args).output().unwrap();
        assert!(out.status.success(), "README command failed: {cmd}\n{}", text(&out.stderr));
        match sub.as_str() {
            "replay" => assert!(text(&out.stdout).lines().count() >= 4, "{cmd}: no alerts\n{}", text(&out.stderr)),
            "rules" => {
                let n = std::fs::read_dir(root().join("rules")).unwrap().count();
                let want = if args[1] == "test" { " 0 failed".to_string() } else { format!("{n} rule(s)") };
                assert!(text(&out.stdout).contains(&want), "{cmd}: {}", text(&out.stdout))
            }
            _ => {}
        }
    }
    for sub in ["replay", "rules", "gen", "export", "investigate", "stream", "respond"] {
        assert!(ran.contains(sub), "the README has no section running `{sub}`");
    }
    // what the commands wrote, where the README says
    for f in ["gen-kong.ndjson", "gen-truth.ndjson", "events.parquet", "events.csv", "report/report.html"] {
        assert!(dir.path().join(f).is_file(), "{f} not written");
    }
}

/// A service command (pointed at the test broker, its own metrics port)
/// must get ready and stop cleanly on SIGTERM.
fn service_comes_up(dir: &std::path::Path, args: &[String], brokers: &str) {
    let args: Vec<String> = args.iter().map(|a| a.replace("127.0.0.1:9092", brokers)).collect();
    // a copy of the settings: the service writes its log beside them
    let given = root().join(args.iter().position(|a| a == "--config").map(|i| &args[i + 1]).unwrap());
    let cfg = dir.join(format!("{}.toml", args[0]));
    std::fs::copy(given, &cfg).unwrap();
    let rest: Vec<&str> = args[1..]
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .chunks(2)
        .filter(|c| c[0] != "--config")
        .flatten()
        .copied()
        .collect();
    let mut p = StreamProc::start_on(&args[0], &cfg, &rest, free_port());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !p.ready() {
        assert!(p.alive(), "`tokenhound {}` exited: {}", args.join(" "), p.log_text());
        assert!(Instant::now() < deadline, "`tokenhound {}` not ready in 60 s: {}", args.join(" "), p.log_text());
        std::thread::sleep(Duration::from_millis(200));
    }
    let st = p.stop(30);
    assert!(st.success(), "`tokenhound {}` did not stop cleanly: {st}", args.join(" "));
}

/// `--features a,b` names features of Cargo.toml, and `full` is all of them.
fn features_exist(args: &str) {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let table = manifest.split("[features]").nth(1).unwrap().split("\n[").next().unwrap();
    let declared: Vec<&str> = table
        .lines()
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim()))
        .filter(|k| !k.starts_with('#'))
        .collect();
    let named = args.split_whitespace().skip_while(|a| *a != "--features").nth(1).expect("--features LIST");
    for f in named.split(',') {
        assert!(declared.contains(&f), "README installs feature {f:?}, Cargo.toml declares {declared:?}");
    }
    let full = table.lines().find(|l| l.starts_with("full = ")).expect("a `full` feature");
    for f in declared.iter().filter(|f| !["default", "full"].contains(f)) {
        assert!(full.contains(&format!("\"{f}\"")), "`full` lacks {f}: {full}");
    }
}
