//! Anonymizers, with MaxMind's GeoIP2 Anonymous IP test database and the
//! City test database: a commuter who turns on a VPN whose exit is abroad
//! raises no impossible-travel (nor ip-drift), raises the anonymizer
//! signals, and the subject's risk moves. Without the Anonymous IP database
//! the same log is impossible travel (the test can fail).

mod common;

use common::{bin, tempdir};
use serde_json::Value;

fn replay(cfg_extra: &str, log: &str) -> Vec<Value> {
    let dir = tempdir();
    let (cfg, file) = (dir.path().join("t.toml"), dir.path().join("log.ndjson"));
    let city = common::maxmind_dir().join("GeoIP2-City-Test.mmdb");
    std::fs::write(
        &cfg,
        format!(
            "profile = \"tokenhound\"\n[geo]\ncity = \"{}\"\n{cfg_extra}\n[token]\ntrust_gateway_claims = true\nidentity_key = \"anonymizer-test-key-0123456789\"\n",
            city.display()
        ),
    )
    .unwrap();
    std::fs::write(&file, log).unwrap();
    let out = bin().args(["replay", "--config"]).arg(&cfg).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn rules(a: &[Value]) -> Vec<String> {
    a.iter().map(|a| a["finding_info"]["analytic"]["uid"].as_str().unwrap().to_string()).collect()
}

/// A commuter in Linköping (89.160.20.112) switches a VPN on whose exit is
/// in London (81.2.69.142: VPN, Tor, proxy in the Anonymous IP test db)
/// five minutes later, then off again.
fn commuter() -> String {
    let line = |t: &str, ip: &str| {
        format!(
            r#"{{"time":"{t}","client_ip":"{ip}","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36","method":"GET","path":"/api/me","status":200,"claims":{{"iss":"https://idp.example","sub":"commuter","jti":"c-1","exp":1893456000}}}}"#
        ) + "\n"
    };
    [
        line("2026-11-02T08:00:00Z", "89.160.20.112"),
        line("2026-11-02T08:05:00Z", "81.2.69.142"),
        line("2026-11-02T08:06:00Z", "81.2.69.142"),
        line("2026-11-02T08:30:00Z", "89.160.20.112"),
    ]
    .concat()
}

#[test]
fn a_vpn_exit_abroad_is_an_anonymizer_signal_not_impossible_travel() {
    let anon = common::maxmind_dir().join("GeoIP2-Anonymous-IP-Test.mmdb");
    let with = replay(&format!("anonymous_ip = \"{}\"", anon.display()), &commuter());
    let got = rules(&with);
    assert!(!got.contains(&"impossible-travel".to_string()), "{got:?}");
    assert!(!got.contains(&"ip-drift".to_string()), "{got:?}");
    assert!(got.contains(&"anonymizer-drift".to_string()), "{got:?}");
    assert!(got.contains(&"anonymized-travel".to_string()), "{got:?}");
    let drift = with.iter().find(|a| a["finding_info"]["analytic"]["uid"] == "anonymizer-drift").unwrap();
    assert!(drift["message"].as_str().unwrap().contains("vpn"), "{}", drift["message"]);
    // the subject's risk moved, to MEDIUM here (no revocation, no step-up)
    let scores: Vec<f64> = with
        .iter()
        .filter_map(|a| a["unmapped"]["tokenhound"]["details"]["risk"]["subject"]["score"].as_f64())
        .collect();
    assert!(!scores.is_empty() && scores.iter().all(|s| *s > 0.0), "{with:?}");
    assert_eq!(scores.last(), Some(&30.0), "anonymizer-drift (20) + anonymized-travel (10): {scores:?}");
    let last =
        with.iter().rev().find_map(|a| a["unmapped"]["tokenhound"]["details"]["risk"]["subject"]["level"].as_str());
    assert_eq!(last, Some("MEDIUM"));
    assert!(!got.contains(&"risk-level-change".to_string()), "two low signals are not HIGH: {got:?}");

    // the same log without the Anonymous IP database: impossible travel
    let without = rules(&replay("", &commuter()));
    assert!(without.contains(&"impossible-travel".to_string()), "{without:?}");
    assert!(!without.contains(&"anonymizer-drift".to_string()));
}

#[test]
fn a_plain_tor_list_marks_its_exits() {
    let dir = tempdir();
    let list = dir.path().join("tor-exits.txt");
    std::fs::write(&list, "# exits\n81.2.69.0/24\n").unwrap();
    let extra = format!("anonymizer_lists = [{{kind = \"tor\", path = \"{}\"}}]", list.display());
    let got = replay(&extra, &commuter());
    let drift = got.iter().find(|a| a["finding_info"]["analytic"]["uid"] == "anonymizer-drift").expect("drift");
    assert!(drift["message"].as_str().unwrap().contains("tor"), "{}", drift["message"]);
    assert!(!rules(&got).contains(&"impossible-travel".to_string()));
    // a bad list line is an error naming the file and line
    std::fs::write(&list, "81.2.69.0/24\nnot-a-cidr\n").unwrap();
    let dir2 = tempdir();
    let cfg = dir2.path().join("t.toml");
    std::fs::write(&cfg, format!("[geo]\n{extra}\n")).unwrap();
    let out = bin().args(["replay", "--config"]).arg(&cfg).arg("sample-logs/logs").output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tor-exits.txt:2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
