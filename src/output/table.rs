//! A fixed-width table of findings for people at a terminal.

use crate::model::Finding;

pub fn table_header() -> String {
    format!("{:<24} {:<8} {:<18} {:<34} {:<14} {}", "TIME", "LEVEL", "RULE", "TOKEN", "SUBJECT", "WHAT")
}

pub fn table_row(f: &Finding) -> String {
    let cut = |s: &str, n: usize| {
        if s.chars().count() > n {
            format!("{}~", s.chars().take(n - 1).collect::<String>())
        } else {
            s.to_string()
        }
    };
    format!(
        "{:<24} {:<8} {:<18} {:<34} {:<14} {}",
        f.time.to_rfc3339(),
        f.severity.as_str(),
        cut(&f.rule_id, 18),
        cut(&f.token.id.display_id(), 34),
        cut(f.token.sub.as_deref().unwrap_or("-"), 14),
        f.message
    )
}
