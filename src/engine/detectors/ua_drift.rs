//! ua-drift: the token's client changes family or OS compared with its first
//! use, or moves from a browser/app to a script client (curl, requests...).
//! A browser's version bump is not drift.

use std::sync::Arc;

use serde_json::json;

use super::{other, owner, Hit};
use crate::engine::state::TokenState;
use crate::engine::ua::{classify, product, UaKind};
use crate::model::{Apart, Use};
use crate::rules::UaDriftParams;

pub fn check(p: &UaDriftParams, st: &TokenState, cur: &Arc<Use>) -> Option<Hit> {
    let base = &st.first;
    let (a, b) = (base.user_agent.as_deref()?, cur.user_agent.as_deref()?);
    if a == b {
        return None;
    }
    let (ca, cb) = (classify(a), classify(b));
    let to_script = p.on_script_client && ca.kind != UaKind::Script && cb.kind == UaKind::Script;
    let family = p.on_family && !ca.family.is_empty() && !cb.family.is_empty() && ca.family != cb.family;
    let os = p.on_os && !ca.os.is_empty() && !cb.os.is_empty() && ca.os != cb.os;
    if !(to_script || family || os) {
        return None;
    }
    let what = if to_script {
        let kind = if ca.kind == UaKind::Browser { "browser" } else { "app" };
        format!("moved from {} ({kind}) to a script client ({})", product_name(a, ca.family), cb.family)
    } else if family {
        format!("changed family {} -> {}", ca.family, cb.family)
    } else {
        format!("changed OS {} -> {}", ca.os, cb.os)
    };
    Some(Hit {
        message: format!("token's user agent {what}"),
        evidence: vec![owner("first use", &st.first_arc()), other("this use", Apart::CLIENT, cur)],
        details: super::details(json!({
            "from": {"family": ca.family, "os": ca.os, "kind": format!("{:?}", ca.kind).to_lowercase()},
            "to": {"family": cb.family, "os": cb.os, "kind": format!("{:?}", cb.kind).to_lowercase()},
        })),
        confidence: if to_script { 3 } else { 2 },
        severity: None,
    })
}

/// The name to show: the browser family, or the app's product token.
fn product_name<'a>(ua: &'a str, family: &'a str) -> &'a str {
    if family.is_empty() || family == "app" {
        product(ua)
    } else {
        family
    }
}
