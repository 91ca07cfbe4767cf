//! How many tokens one investigation details. A hostile log can make
//! the engine find something on every line (a spray of a million forged
//! tokens, each its own `forged-token` finding); detailing each would hold
//! every finding, timeline and report row in memory. The findings of the
//! first [`MAX_TOKENS`] tokens are kept ([`MAX_FORGED_TOKENS`] of them for
//! tokens first found forged, so a spray of forgeries cannot crowd out the
//! thefts); the rest are counted by rule, and the report says so.

use std::collections::{BTreeMap, HashSet};

use crate::model::Finding;

/// Tokens whose findings are detailed.
pub const MAX_TOKENS: usize = 10_000;
/// Of which, tokens first found forged.
pub const MAX_FORGED_TOKENS: usize = 1_000;

#[derive(Default)]
pub struct Budget {
    tokens: HashSet<String>,
    forged: usize,
    /// Findings not detailed, by rule.
    pub dropped: BTreeMap<String, u64>,
}

impl Budget {
    /// Whether a finding by `rule` on the token named `token` is detailed.
    pub fn admit(&mut self, token: &str, rule: &str) -> bool {
        if self.tokens.contains(token) {
            return true;
        }
        let forged = rule == "forged-token";
        let room = if forged {
            self.forged < MAX_FORGED_TOKENS
        } else {
            self.tokens.len() - self.forged < MAX_TOKENS - MAX_FORGED_TOKENS
        };
        if room {
            self.tokens.insert(token.to_string());
            self.forged += usize::from(forged);
        } else {
            *self.dropped.entry(rule.to_string()).or_default() += 1;
        }
        room
    }

    /// Keep only the findings of `found[from..]` that are admitted.
    pub fn keep(&mut self, found: &mut Vec<Finding>, from: usize) {
        let mut i = from;
        while i < found.len() {
            if self.admit(&found[i].token.id.display_id(), &found[i].rule_id) {
                i += 1;
            } else {
                found.swap_remove(i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spray_of_forgeries_cannot_crowd_out_thefts() {
        let mut b = Budget::default();
        for i in 0..5 * MAX_FORGED_TOKENS {
            b.admit(&format!("fp:{i}"), "forged-token");
        }
        assert_eq!(b.dropped["forged-token"], 4 * MAX_FORGED_TOKENS as u64);
        assert!(b.admit("fp:3", "forged-token"), "a kept token keeps its later findings");
        for i in 0..MAX_TOKENS - MAX_FORGED_TOKENS {
            assert!(b.admit(&format!("iss|{i}"), "impossible-travel"), "thefts have their own room");
        }
        assert!(!b.admit("iss|more", "ua-drift"));
        assert_eq!(b.dropped["ua-drift"], 1);
    }
}
