//! The investigation report, three renderings of the same facts: JSON (for
//! tools), Markdown (for tickets) and a self-contained HTML page (no script,
//! no network: inline SVG timelines per incident and a world map of the
//! uses, tables of the blast radius, pivot and root cause).

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::incident::Incident;
use super::pivot::{Indicators, Suspect};
use super::rootcause::{Hypothesis, RootCauses};

#[derive(Debug, Serialize)]
pub struct Report {
    pub generated_by: String,
    pub events: u64,
    /// Findings on tokens past the number detailed, by rule (a hostile log's spray).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub not_detailed: std::collections::BTreeMap<String, u64>,
    pub incidents: Vec<Incident>,
    pub indicators: Indicators,
    pub likely_also_compromised: Vec<Suspect>,
    /// Tokens the pivot scored past the number listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub likely_also_compromised_not_listed: usize,
    /// Subjects who must change their password.
    pub password_resets: Vec<String>,
    /// Revocation requests (`respond` can act on them).
    pub revocation_requests: Vec<Value>,
    pub root_causes: Vec<Hypothesis>,
    /// How many attribute values were tested, and why the rest were dropped.
    pub root_cause_tests: RootCauses,
    pub attribution: Vec<String>,
}

fn ts(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us).map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Control characters (newlines break a table row; ESC and CR a terminal
/// showing the file) as visible escapes.
fn visible(s: &str) -> String {
    crate::output::escape_controls(s).into_owned()
}

/// An attacker-influenced value for Markdown: a code span (no emphasis,
/// links, images, HTML or autolinks inside), fenced with more backticks than
/// it holds, with `|` escaped so it cannot split a table cell.
fn code(s: &str) -> String {
    if s.is_empty() {
        return "-".into();
    }
    let s = visible(s).replace('|', "\\|");
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    format!("{fence} {s} {fence}")
}

/// Running Markdown text with every punctuation character Markdown or HTML
/// could act on backslash-escaped (`[`, `(`, `!`, `<`, `|`, `*`...).
fn text(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for c in visible(s).chars() {
        if c.is_ascii_punctuation() {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The findings left out of the detail, in words.
fn not_detailed(r: &Report) -> Option<String> {
    let more = r.likely_also_compromised_not_listed;
    let pivot = format!("{more} more tokens the pivot scored are not listed");
    if r.not_detailed.is_empty() {
        return (more > 0).then_some(pivot);
    }
    let by: Vec<String> = r.not_detailed.iter().map(|(rule, n)| format!("{rule} {n}")).collect();
    let total: u64 = r.not_detailed.values().sum();
    let found = format!(
        "{total} more findings on tokens past the {} detailed are not in this report (by rule: {})",
        super::budget::MAX_TOKENS,
        by.join(", ")
    );
    Some(if more > 0 { format!("{found}; {pivot}") } else { found })
}

pub fn markdown(r: &Report) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# tokenhound investigation\n\n{} events, {} incident(s).\n", r.events, r.incidents.len());
    if let Some(n) = not_detailed(r) {
        let _ = writeln!(m, "{}\n", text(&n));
    }
    let _ = writeln!(
        m,
        "## Root cause hypotheses\n\n{}\n\n| # | attribute | value | stolen with | all tokens with | lift | p | q | statement |\n|---|---|---|---|---|---|---|---|---|",
        text(&r.root_cause_tests.summary())
    );
    for (i, h) in r.root_causes.iter().take(10).enumerate() {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} of {} | {} of {} | {:.1} | {:.2e} | {:.2e} | {} |",
            i + 1,
            code(&h.attribute),
            code(&h.value),
            h.stolen_with,
            h.stolen,
            h.tokens_with,
            h.tokens,
            h.lift,
            h.p_value,
            h.q_value,
            text(&h.statement)
        );
    }
    let _ = writeln!(m, "\n## Incidents\n");
    let list = |v: Vec<String>| if v.is_empty() { "-".to_string() } else { v.join(", ") };
    for inc in &r.incidents {
        let b = &inc.blast_radius;
        let _ = writeln!(
            m,
            "### {}\n\n- subject: {}\n- rules: {}\n- first suspicious use: {}\n- attacker: IPs {}, networks {}, countries {}, clients {}\n- blast radius: {} requests, {} bytes, {} distinct resources, {} accepted after revocation; statuses {:?}\n- routes: {}\n",
            code(&inc.token),
            code(inc.sub.as_deref().unwrap_or("")),
            list(inc.rules.iter().map(|r| code(r)).collect()),
            inc.first_suspicious_us.map(ts).unwrap_or_else(|| "-".into()),
            list(inc.infrastructure.ips.iter().map(|i| code(i)).collect()),
            list(inc.infrastructure.asns.iter().map(|(a, o)| code(&format!("AS{a} {o}"))).collect()),
            list(inc.infrastructure.countries.iter().map(|c| code(c)).collect()),
            list(inc.infrastructure.user_agents.iter().map(|u| code(u)).collect()),
            b.requests,
            b.bytes,
            b.distinct_resources,
            b.accepted_after_revocation,
            b.statuses,
            list(b.routes.iter().map(|(k, v)| format!("{} ({v})", code(k))).collect()),
        );
    }
    let _ = writeln!(
        m,
        "## Likely also compromised\n\n| token | subject | requests | matched | score |\n|---|---|---|---|---|"
    );
    for s in r.likely_also_compromised.iter().take(50) {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} |",
            code(&s.token),
            code(s.sub.as_deref().unwrap_or("")),
            s.requests,
            list(s.matched.iter().map(|x| code(x)).collect()),
            s.score
        );
    }
    let _ = writeln!(m, "\n## Baseline infrastructure (not counted)\n");
    if r.indicators.baseline.is_empty() {
        let _ = writeln!(m, "none");
    }
    for b in &r.indicators.baseline {
        let _ =
            writeln!(m, "- {} {}: {} tokens on {} days before the window", b.kind, code(&b.value), b.tokens, b.days);
    }
    let _ = writeln!(
        m,
        "\n## Must change their password\n\n{}\n",
        list(r.password_resets.iter().map(|p| code(p)).collect())
    );
    for a in &r.attribution {
        let _ = writeln!(m, "_{}_\n", text(a));
    }
    m
}

/// A timeline of one incident: the owner's uses and the attacker's on one axis.
fn timeline_svg(inc: &Incident) -> String {
    let (w, h, pad) = (760.0, 70.0, 20.0);
    let t0 = inc.timeline.first().map_or(0, |u| u.time_us) as f64;
    let t1 = inc.timeline.last().map_or(1, |u| u.time_us).max(t0 as i64 + 1) as f64;
    let x = |t: i64| pad + (t as f64 - t0) / (t1 - t0) * (w - 2.0 * pad);
    let mut s = format!(
        r#"<svg class="timeline" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="timeline of {}">"#,
        esc(&inc.token)
    );
    let _ = write!(s, r##"<line x1="{pad}" y1="35" x2="{}" y2="35" stroke="#999"/>"##, w - pad);
    if let Some(f) = inc.first_suspicious_us {
        let _ = write!(
            s,
            r##"<line x1="{0:.1}" y1="8" x2="{0:.1}" y2="62" stroke="#c00" stroke-dasharray="3,3"/><text x="{0:.1}" y="8" font-size="10" fill="#c00">first suspicious use</text>"##,
            x(f)
        );
    }
    for u in &inc.timeline {
        let (cy, fill) = if u.attacker { (48.0, "#d62728") } else { (22.0, "#1f77b4") };
        let _ = write!(
            s,
            r#"<circle cx="{:.1}" cy="{cy}" r="4" fill="{fill}"><title>{} {} {} {} from {}</title></circle>"#,
            x(u.time_us),
            ts(u.time_us),
            esc(&u.method),
            esc(&u.path),
            u.status,
            esc(u.ip.as_deref().unwrap_or("?"))
        );
    }
    let _ = write!(
        s,
        r#"<text x="{pad}" y="68" font-size="10">{}</text><text x="{}" y="68" font-size="10" text-anchor="end">{}</text></svg>"#,
        ts(t0 as i64),
        w - pad,
        ts(t1 as i64)
    );
    s
}

pub fn html(r: &Report) -> String {
    let mut h = String::from(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"><title>tokenhound investigation</title><style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}
th{background:#f4f4f4}.legend span{display:inline-block;width:10px;height:10px;border-radius:5px;margin:0 4px 0 12px}
</style></head><body><h1>tokenhound investigation</h1>"#,
    );
    let _ = write!(h, "<p>{} events, {} incident(s).</p>", r.events, r.incidents.len());
    if let Some(n) = not_detailed(r) {
        let _ = write!(h, "<p><strong>{}</strong></p>", esc(&n));
    }
    h.push_str(r##"<p class="legend"><span style="background:#1f77b4"></span>owner <span style="background:#d62728"></span>attacker &middot; a line joins consecutive uses of one token (red when either end is the attacker's)</p>"##);
    h.push_str("<h2>Where the stolen tokens were used</h2>");
    h.push_str(&super::map::svg(&r.incidents));
    let _ = write!(
        h,
        "<h2>Root cause hypotheses</h2><p>{}</p><table id=\"root-cause\"><tr><th>#</th><th>attribute</th><th>value</th><th>stolen with</th><th>all tokens with</th><th>lift</th><th>p</th><th>q</th><th>statement</th></tr>",
        esc(&r.root_cause_tests.summary())
    );
    for (i, c) in r.root_causes.iter().take(10).enumerate() {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} of {}</td><td>{} of {}</td><td>{:.1}</td><td>{:.2e}</td><td>{:.2e}</td><td>{}</td></tr>",
            i + 1,
            esc(&c.attribute),
            esc(&c.value),
            c.stolen_with,
            c.stolen,
            c.tokens_with,
            c.tokens,
            c.lift,
            c.p_value,
            c.q_value,
            esc(&c.statement)
        );
    }
    h.push_str("</table><h2>Incidents</h2>");
    for inc in &r.incidents {
        let b = &inc.blast_radius;
        let _ = write!(
            h,
            "<section class=\"incident\"><h3>{}</h3><p>subject {} &middot; rules {} &middot; first suspicious use {}</p>{}<p>blast radius: {} requests, {} bytes, {} distinct resources, {} accepted after revocation; attacker networks {}; attacker clients {}</p></section>",
            esc(&inc.token),
            esc(inc.sub.as_deref().unwrap_or("-")),
            esc(&inc.rules.iter().cloned().collect::<Vec<_>>().join(", ")),
            inc.first_suspicious_us.map(ts).unwrap_or_default(),
            timeline_svg(inc),
            b.requests,
            b.bytes,
            b.distinct_resources,
            b.accepted_after_revocation,
            esc(&inc.infrastructure.asns.iter().map(|(a, o)| format!("AS{a} {o}")).collect::<Vec<_>>().join(", ")),
            esc(&inc.infrastructure.user_agents.iter().cloned().collect::<Vec<_>>().join(" · ")),
        );
    }
    h.push_str("<h2>Likely also compromised</h2><table id=\"pivot\"><tr><th>token</th><th>subject</th><th>requests</th><th>matched</th><th>score</th></tr>");
    for s in r.likely_also_compromised.iter().take(100) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.token),
            esc(s.sub.as_deref().unwrap_or("-")),
            s.requests,
            esc(&s.matched.join(", ")),
            s.score
        );
    }
    h.push_str("</table><h2>Baseline infrastructure (not counted)</h2><ul id=\"baseline\">");
    for b in &r.indicators.baseline {
        let _ = write!(
            h,
            "<li>{} {}: {} tokens on {} days before the window</li>",
            b.kind,
            esc(&b.value),
            b.tokens,
            b.days
        );
    }
    let _ = write!(h, "</ul><h2>Must change their password</h2><p>{}</p>", esc(&r.password_resets.join(", ")));
    for a in &r.attribution {
        let _ = write!(h, "<p><small>{}</small></p>", esc(a));
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_values_cannot_become_markup() {
        let c = code("<img src=x onerror=alert(1)> ![](http://beacon.example/p) a|b `tick`");
        assert!(c.starts_with("`` ") && c.ends_with(" ``"), "{c}");
        assert!(c.contains("a\\|b"), "{c}");
        assert_eq!(code("x\ny\x1b[2J"), "` x\\x0ay\\x1b[2J `");
        let t = text("[click](javascript:alert(1)) <b>");
        assert_eq!(t, "\\[click\\]\\(javascript\\:alert\\(1\\)\\) \\<b\\>");
        assert_eq!(code(""), "-");
    }
}
