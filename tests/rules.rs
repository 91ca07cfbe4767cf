//! The shipped rules: `rules check` validates them, `rules test` runs their
//! inline must-fire / must-not-fire tests; broken rule files report every
//! error with file, rule id and field.

mod common;

use common::*;
use tokenhound::rules::{load_dir, Rule};
use tokenhound::selftest;

#[test]
fn shipped_rules_load_and_cover_every_detector_kind() {
    let set = load_dir(&root().join("rules")).expect("shipped rules are valid");
    let ids: Vec<&str> = set.rules.iter().map(|r| &*r.id).collect();
    for id in
        ["impossible-travel", "ip-drift", "ua-drift", "concurrent-use", "revoked-use", "expired-use", "forged-token"]
    {
        assert!(ids.contains(&id), "missing rule {id}");
    }
}

#[test]
fn shipped_rule_self_tests_pass() {
    let set = load_dir(&root().join("rules")).unwrap();
    let results = selftest::run_all(&set, None);
    let failed: Vec<_> = results.iter().filter(|o| !o.passed).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(results.len() >= 14, "every rule has fire and no-fire tests");
}

#[test]
fn cli_rules_check_and_test() {
    let out = run(&["rules", "check", "--rules", "rules"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let n = std::fs::read_dir(root().join("rules")).unwrap().count();
    assert!(text(&out.stdout).contains(&format!("{n} rule(s) OK")), "{}", text(&out.stdout));
    let out = run(&["rules", "test", "--rules", "rules"]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains(" 0 failed"));
}

#[test]
fn broken_rules_report_every_error_with_file_id_and_field() {
    let dir = tempdir();
    let ok = std::fs::read_to_string(root().join("rules/impossible-travel.yml")).unwrap();
    std::fs::write(dir.path().join("a-typo.yml"), ok.replace("max_speed_kmh: 1000", "max_sped_kmh: 1000")).unwrap();
    std::fs::write(
        dir.path().join("b-level.yml"),
        ok.replace("id: impossible-travel", "id: travel-two").replace("level: high", "level: severe"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("c-kind.yml"),
        ok.replace("id: impossible-travel", "id: travel-three").replace("kind: impossible-travel", "kind: teleport"),
    )
    .unwrap();
    std::fs::write(dir.path().join("d-dup.yml"), &ok).unwrap();
    std::fs::write(dir.path().join("d-orig.yml"), &ok).unwrap();
    std::fs::write(
        dir.path().join("e-extra.yml"),
        ok.replace("id: impossible-travel", "id: travel-five\nseverity: high"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("f-cidr.yml"),
        ok.replace("id: impossible-travel", "id: travel-six")
            .replace("response: revoke", "response: revoke\nexceptions:\n  cidrs: [10.0.0.0/33]"),
    )
    .unwrap();
    let out = run(&["rules", "check", "--rules", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    for needle in [
        "a-typo.yml: rule impossible-travel: detector.params: unknown field `max_sped_kmh`",
        "b-level.yml: rule travel-two: level: \"severe\" is not one of",
        "c-kind.yml: rule travel-three: detector.kind: \"teleport\"",
        "rule impossible-travel: id: duplicate id",
        "e-extra.yml: rule travel-five: (yaml)",
        "f-cidr.yml: rule travel-six: exceptions.cidrs: \"10.0.0.0/33\" is not a CIDR",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
}

#[test]
fn a_rule_whose_test_is_wrong_fails_rules_test() {
    let dir = tempdir();
    let ok = std::fs::read_to_string(root().join("rules/ua-drift.yml")).unwrap();
    // claim the auto-update case must fire: the self-test has to catch it
    let wrong = ok.replacen(
        "name: chrome auto-update mid-session\n    expect: no-fire",
        "name: chrome auto-update mid-session\n    expect: fire",
        1,
    );
    assert_ne!(ok, wrong);
    std::fs::write(dir.path().join("ua.yml"), wrong).unwrap();
    let out = run(&["rules", "test", "--rules", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("FAIL ua-drift / chrome auto-update mid-session"));
}

/// The impossible-travel rule with extra YAML spliced in after `response:`,
/// run on the London -> Singapore story of its own first test.
fn travel_findings(extra: &str) -> usize {
    let text = std::fs::read_to_string(root().join("rules/impossible-travel.yml")).unwrap();
    let text = text.replacen("response: revoke\n", &format!("response: revoke\n{extra}"), 1);
    let rule = tokenhound::rules::compile_file(&text, "variant.yml").unwrap_or_else(|e| panic!("{e:?}"));
    let case = rule.tests[0].clone();
    selftest::run_case(&rule, &case, None).unwrap().len()
}

#[test]
fn exceptions_and_scope_silence_a_rule() {
    assert_eq!(travel_findings(""), 1, "the story fires as shipped");
    // the far end is a known corporate egress
    assert_eq!(travel_findings("exceptions:\n  cidrs: [198.18.9.0/24]\n"), 0);
    assert_eq!(travel_findings("exceptions:\n  asns: [64510]\n"), 0);
    assert_eq!(travel_findings("exceptions:\n  countries: [US]\n"), 0);
    assert_eq!(travel_findings("exceptions:\n  subjects: [alice]\n"), 0);
    assert_eq!(travel_findings("exceptions:\n  user_agents: [chrome/120]\n"), 0);
    // exceptions that do not match leave it firing
    assert_eq!(travel_findings("exceptions:\n  cidrs: [10.0.0.0/8]\n  subjects: [bob]\n"), 1);
    // scope: only admin paths, or only another issuer
    assert_eq!(travel_findings("scope:\n  paths: [\"/admin/**\"]\n"), 0);
    assert_eq!(travel_findings("scope:\n  issuers: [\"https://other.example\"]\n"), 0);
    assert_eq!(travel_findings("scope:\n  paths: [\"/api/**\"]\n  methods: [GET]\n"), 1);
}

/// The rules ship inside the binary: run from a directory without `rules/`
/// (an installed binary), replay and `rules list` use the built-in set, the
/// same rules as the repository's files.
#[test]
fn builtin_rules_work_from_any_directory() {
    let elsewhere = tempdir();
    let out = bin().current_dir(elsewhere.path()).args(["rules", "list"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = text(&out.stdout);
    let files: Vec<String> = std::fs::read_dir(root().join("rules"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(files.len() >= 11, "{files:?}");
    for f in &files {
        assert!(list.contains(&format!("builtin:{f}")), "{f} not listed as built-in:\n{list}");
    }
    assert!(list.contains(&format!("{} rule(s) from the built-in rules", files.len())), "{list}");
    // the embedded rules are the repository's rules, not a stale copy
    let builtin = tokenhound::rules::load_builtin().unwrap();
    let dir = load_dir(&root().join("rules")).unwrap();
    let strip = |s: &tokenhound::rules::RuleSet| {
        s.rules.iter().map(|r| format!("{:?}", Rule { file: String::new(), ..r.clone() })).collect::<Vec<_>>()
    };
    assert_eq!(strip(&builtin), strip(&dir));

    // a replay over the sample logs from elsewhere: same alerts as with --rules rules
    let log = root().join("sample-logs/logs");
    let flags = sample_flags();
    let abs: Vec<String> = flags
        .iter()
        .skip(2)
        .map(|f| if f.starts_with("sample-logs") { root().join(f).display().to_string() } else { f.clone() })
        .collect();
    let here = bin().current_dir(elsewhere.path()).arg("replay").args(&abs).arg(&log).output().unwrap();
    assert!(here.status.success(), "{}", text(&here.stderr));
    let there = bin().arg("replay").args(&flags).arg(&log).output().unwrap();
    assert!(!here.stdout.is_empty());
    assert_eq!(text(&here.stdout), text(&there.stdout));
}

/// `--extra-rules DIR` adds rules to the built-in set; a file whose id is a
/// built-in rule replaces it (and says so); `--rules DIR` replaces them all.
#[test]
fn extra_rules_extend_and_override_builtin() {
    let dir = tempdir();
    let travel = std::fs::read_to_string(root().join("rules/impossible-travel.yml")).unwrap();
    let tuned = travel.replace("max_speed_kmh: 1000", "max_speed_kmh: 900");
    assert_ne!(tuned, travel, "the rule file changed: update this test");
    std::fs::write(dir.path().join("travel-tuned.yml"), &tuned).unwrap();
    std::fs::write(
        dir.path().join("travel-copy.yml"),
        travel.replace("id: impossible-travel", "id: impossible-travel-copy"),
    )
    .unwrap();
    let d = dir.path().to_str().unwrap();
    let out = run(&["rules", "list", "--extra-rules", d]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = text(&out.stdout);
    let n = std::fs::read_dir(root().join("rules")).unwrap().count();
    assert!(list.contains(&format!("{} rule(s) from the built-in rules + ", n + 1)), "{list}");
    let line = list.lines().find(|l| l.starts_with("impossible-travel ")).unwrap();
    assert!(line.contains("travel-tuned.yml (replaces builtin:impossible-travel.yml)"), "{line}");
    assert!(list.lines().any(|l| l.starts_with("impossible-travel-copy ") && l.contains("travel-copy.yml")));
    let set = tokenhound::rules::load(None, &[dir.path().to_path_buf()]).unwrap();
    let r = set.rules.iter().find(|r| &*r.id == "impossible-travel").unwrap();
    assert!(format!("{:?}", r.detector).contains("900.0"), "{:?}", r.detector);
    let out = run(&["rules", "test", "--extra-rules", d]);
    assert!(text(&out.stdout).contains(" 0 failed"), "{}", text(&out.stdout));

    // --rules replaces: only the two files of the directory
    let out = run(&["rules", "list", "--rules", d]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = text(&out.stdout);
    assert!(list.contains(&format!("2 rule(s) from {d}")), "{list}");
    assert!(!list.contains("builtin:"), "{list}");

    // a missing extra directory is a settings error naming it
    let out = run(&["rules", "list", "--extra-rules", "/nonexistent-rules"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("extra_rules: /nonexistent-rules is not a directory"), "{}", text(&out.stderr));
}
