//! The `[investigate]` section: the pivot's weights, window and threshold,
//! the baseline that tells long-standing infrastructure from an attacker's,
//! and the root cause's significance level. Validated, with self-tests
//! like the rules': cases of matched signals that must or must not reach
//! the threshold (a set of weights that would accuse every script client
//! is an error, not a surprise in a report).

use serde::Deserialize;

use super::duration;

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawInvestigate {
    /// Pivot window around the attackers' requests (`--pivot-window` overrides).
    pub window: Option<String>,
    /// Score a token must reach to be listed as likely also compromised.
    pub threshold: Option<u32>,
    #[serde(default)]
    pub weights: RawWeights,
    /// Root cause: the largest Benjamini-Hochberg q-value of a hypothesis.
    pub q_max: Option<f64>,
    /// Baseline: an address or script client that served at least this many
    /// tokens on at least `baseline_min_days` days before the incident
    /// window is the deployment's own infrastructure.
    pub baseline_min_tokens: Option<usize>,
    pub baseline_min_days: Option<usize>,
    /// Self-tests of the weights and threshold (replace the built-in ones).
    pub tests: Option<Vec<RawPivotTest>>,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawWeights {
    pub address: Option<u32>,
    pub prefix: Option<u32>,
    pub network: Option<u32>,
    pub script_client: Option<u32>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawPivotTest {
    pub name: String,
    /// `address`, `prefix`, `network`, `script_client`.
    pub signals: Vec<String>,
    pub expect: Expect,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    Listed,
    NotListed,
}

/// What a matched signal weighs in the pivot's score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weights {
    pub address: u32,
    pub prefix: u32,
    pub network: u32,
    pub script_client: u32,
}

impl Weights {
    pub fn of(&self, signal: &str) -> Option<u32> {
        Some(match signal {
            "address" => self.address,
            "prefix" => self.prefix,
            "network" => self.network,
            "script_client" => self.script_client,
            _ => return None,
        })
    }
}

/// Validated `[investigate]`.
#[derive(Debug, Clone, PartialEq)]
pub struct InvestigateSettings {
    pub window_secs: i64,
    pub threshold: u32,
    pub weights: Weights,
    pub q_max: f64,
    pub baseline_min_tokens: usize,
    pub baseline_min_days: usize,
}

impl Default for InvestigateSettings {
    fn default() -> Self {
        RawInvestigate::default().validate(&mut Vec::new())
    }
}

/// The built-in self-tests: an attacker's own address or /24 alone links a
/// token; a script client alone (many legitimate jobs use curl) does not.
fn builtin_tests() -> Vec<RawPivotTest> {
    let t = |name: &str, s: &[&str], expect| RawPivotTest {
        name: name.into(),
        signals: s.iter().map(|x| x.to_string()).collect(),
        expect,
    };
    vec![
        t("an attacker's address alone", &["address"], Expect::Listed),
        t("an address in an attacker's prefix alone", &["prefix"], Expect::Listed),
        t("an attacker's script client alone", &["script_client"], Expect::NotListed),
    ]
}

impl RawInvestigate {
    pub fn validate(self, errs: &mut Vec<String>) -> InvestigateSettings {
        let w = &self.weights;
        let weights = Weights {
            address: w.address.unwrap_or(3),
            prefix: w.prefix.unwrap_or(2),
            network: w.network.unwrap_or(2),
            script_client: w.script_client.unwrap_or(1),
        };
        let threshold = self.threshold.unwrap_or(2);
        if threshold == 0 {
            errs.push("investigate.threshold: must be at least 1 (0 would list every token)".into());
        }
        let q_max = self.q_max.unwrap_or(0.01);
        if !(q_max > 0.0 && q_max < 1.0) {
            errs.push(format!("investigate.q_max: {q_max} is not between 0 and 1"));
        }
        let window_secs = duration(&self.window, "investigate.window", 86_400, errs);
        let baseline_min_tokens = self.baseline_min_tokens.unwrap_or(20);
        let baseline_min_days = self.baseline_min_days.unwrap_or(3);
        if baseline_min_tokens < 2 || baseline_min_days < 1 {
            errs.push("investigate.baseline_min_tokens: at least 2, baseline_min_days: at least 1".into());
        }
        for (i, t) in self.tests.unwrap_or_else(builtin_tests).iter().enumerate() {
            let mut score = 0;
            for s in &t.signals {
                match weights.of(s) {
                    Some(w) => score += w,
                    None => errs.push(format!(
                        "investigate.tests[{i}] ({}): unknown signal {s:?} (address, prefix, network, script_client)",
                        t.name
                    )),
                }
            }
            let listed = score >= threshold;
            if listed != (t.expect == Expect::Listed) {
                errs.push(format!(
                    "investigate.tests[{i}] ({}): signals [{}] score {score} against threshold {threshold}: expected {}",
                    t.name,
                    t.signals.join(", "),
                    if t.expect == Expect::Listed { "listed" } else { "not listed" }
                ));
            }
        }
        InvestigateSettings { window_secs, threshold, weights, q_max, baseline_min_tokens, baseline_min_days }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(toml: &str) -> RawInvestigate {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn defaults_pass_their_self_tests() {
        let mut errs = Vec::new();
        let s = raw("").validate(&mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!((s.threshold, s.weights.address, s.weights.script_client, s.window_secs), (2, 3, 1, 86_400));
    }

    #[test]
    fn weights_that_would_accuse_every_script_client_fail_the_self_tests() {
        let mut errs = Vec::new();
        raw("[weights]\nscript_client = 2\n").validate(&mut errs);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].contains("script client alone") && errs[0].contains("expected not listed"), "{errs:?}");
        // a prefix that no longer reaches the threshold fails too
        let mut errs = Vec::new();
        raw("threshold = 3\n").validate(&mut errs);
        assert!(errs.iter().any(|e| e.contains("prefix alone") && e.contains("expected listed")), "{errs:?}");
    }

    #[test]
    fn own_tests_replace_the_built_in_ones_and_every_error_is_reported() {
        let mut errs = Vec::new();
        let s = raw(
            "threshold = 4\nwindow = \"2h\"\nq_max = 0.05\n[[tests]]\nname = \"address and prefix\"\nsignals = [\"address\", \"prefix\"]\nexpect = \"listed\"\n",
        )
        .validate(&mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!((s.threshold, s.window_secs, s.q_max), (4, 7200, 0.05));
        let mut errs = Vec::new();
        raw("threshold = 0\nq_max = 2.0\nwindow = \"soon\"\n[[tests]]\nname = \"x\"\nsignals = [\"asn\"]\nexpect = \"not-listed\"\n")
            .validate(&mut errs);
        let all = errs.join("\n");
        for k in ["investigate.threshold", "investigate.q_max", "investigate.window", "unknown signal \"asn\""] {
            assert!(all.contains(k), "{k}: {all}");
        }
        assert!(toml::from_str::<RawInvestigate>("[weights]\nasn = 1\n").is_err(), "unknown keys are errors");
    }
}
