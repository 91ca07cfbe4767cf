//! The YAML shape of a rule file, parsed with `deny_unknown_fields`.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub level: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub falsepositives: Vec<String>,
    pub detector: DetectorIn,
    #[serde(default)]
    pub scope: ScopeIn,
    #[serde(default)]
    pub exceptions: ExceptionsIn,
    #[serde(default = "default_response")]
    pub response: String,
    /// One alert per token per rule per this window.
    #[serde(default)]
    pub dedup: Option<String>,
    #[serde(default)]
    pub confidence: Option<String>,
    /// What one finding adds to its token's and subject's risk score
    /// (default by level: informational 0, low 10, medium 30, high 60, critical 100).
    #[serde(default)]
    pub risk: Option<f64>,
    #[serde(default)]
    pub tests: Vec<TestCase>,
}

fn default_response() -> String {
    "alert".into()
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct DetectorIn {
    pub kind: String,
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ScopeIn {
    #[serde(default)]
    pub issuers: Vec<String>,
    #[serde(default)]
    pub clients: Vec<String>,
    /// Globs: `*` matches within a segment, `**` across segments.
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default)]
    pub methods: Vec<String>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ExceptionsIn {
    #[serde(default)]
    pub cidrs: Vec<String>,
    #[serde(default)]
    pub asns: Vec<u32>,
    #[serde(default)]
    pub countries: Vec<String>,
    /// Case-insensitive substrings of the user agent.
    #[serde(default)]
    pub user_agents: Vec<String>,
    #[serde(default)]
    pub subjects: Vec<String>,
    #[serde(default)]
    pub clients: Vec<String>,
}

/// An inline test: events in the tokenhound event format, and whether the
/// rule must fire on them.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    /// `fire` or `no-fire`.
    pub expect: String,
    /// Exact number of findings when `expect: fire` (default: at least one).
    #[serde(default)]
    pub count: Option<usize>,
    /// Revocations in the `--revocations` line format, for revoked-use tests.
    #[serde(default)]
    pub revocations: Vec<serde_json::Value>,
    pub events: Vec<serde_json::Value>,
}
