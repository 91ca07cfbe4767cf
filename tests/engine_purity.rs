//! The engine is pure: no I/O, no clock, no threads, no randomness. Clippy's
//! `disallowed-methods` (clippy.toml) enforces the clock part where clippy
//! runs; this test enforces all of it on every `cargo test`.

mod common;

#[test]
fn engine_sources_use_no_io_clock_or_threads() {
    let forbidden = [
        "std::time",
        "SystemTime",
        "Instant",
        "Utc::now",
        "Local::now",
        "std::fs",
        "std::net::Tcp",
        "std::net::Udp",
        "std::io::stdin",
        "std::io::stdout",
        "std::thread",
        "tokio",
        "rdkafka",
        "rand::",
        "RandomState",
        "println!",
        "eprintln!",
    ];
    let mut stack = vec![common::root().join("src/engine")];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.file_name().is_some_and(|n| n == "tests.rs") {
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&p).unwrap();
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for f in forbidden {
                    assert!(!code.contains(f), "{}:{}: the engine must not use {f}: {line}", p.display(), i + 1);
                }
            }
        }
    }
    assert!(files >= 10);
}
