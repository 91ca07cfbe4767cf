//! A fixed-width table of findings for people at a terminal. Every cell is
//! attacker-influenced text, so control characters (ESC, CR...) are shown
//! escaped, never sent to the terminal. A subject a forged token claims is
//! shown as `?claimed`.

use crate::model::Finding;

pub fn table_header() -> String {
    format!("{:<24} {:<8} {:<18} {:<34} {:<14} {}", "TIME", "LEVEL", "RULE", "TOKEN", "SUBJECT", "WHAT")
}

/// Characters that move or hide what a terminal shows: C0/C1 controls
/// (ESC, CR, BS...), DEL, and the bidirectional overrides.
fn hostile(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Control characters (and DEL, bidi overrides) as `\x1b`-style escapes;
/// the rest as is.
pub fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(hostile) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if hostile(c) {
            let n = c as u32;
            if n <= 0xff {
                o.push_str(&format!("\\x{n:02x}"));
            } else {
                o.push_str(&format!("\\u{{{n:x}}}"));
            }
        } else {
            o.push(c);
        }
    }
    std::borrow::Cow::Owned(o)
}

pub fn table_row(f: &Finding) -> String {
    let subject = match (f.token.trusted_sub(), f.token.sub.as_deref()) {
        (Some(s), _) => s.to_string(),
        (None, Some(claimed)) => format!("?{claimed}"),
        (None, None) => "-".into(),
    };
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
        cut(&escape_controls(&f.token.id.display_id()), 34),
        cut(&escape_controls(&subject), 14),
        escape_controls(&f.message)
    )
}
