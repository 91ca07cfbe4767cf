//! The `[geo]` section: city and ASN databases, and the anonymizer sources.

use std::path::PathBuf;

use serde::Deserialize;

use crate::enrich::GeoSchema;
use crate::model::anon;

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawGeo {
    /// One city database, or several (DB-IP ships IPv4 and IPv6 apart).
    #[serde(default)]
    pub city: OneOrMany,
    pub asn: Option<PathBuf>,
    pub schema: Option<GeoSchema>,
    pub cache_size: Option<usize>,
    /// A GeoIP2 Anonymous IP database (VPN, Tor, proxies).
    pub anonymous_ip: Option<PathBuf>,
    /// Plain lists of anonymizer addresses: `{kind = "tor", path = "..."}`.
    #[serde(default)]
    pub anonymizer_lists: Vec<RawAnonList>,
}

/// One anonymizer list: its kind (`vpn`, `tor`, `proxy`, `residential-proxy`,
/// `relay`, `listed`) and a file of addresses / CIDRs.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawAnonList {
    pub kind: String,
    pub path: PathBuf,
}

/// The anonymizer sources, validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeoAnon {
    pub anonymous_ip: Option<PathBuf>,
    /// (kind bits, path).
    pub lists: Vec<(u8, PathBuf)>,
}

impl GeoAnon {
    pub fn is_empty(&self) -> bool {
        self.anonymous_ip.is_none() && self.lists.is_empty()
    }
}

impl RawGeo {
    pub(super) fn anonymizers(&self, errs: &mut Vec<String>) -> GeoAnon {
        let mut out = GeoAnon { anonymous_ip: self.anonymous_ip.clone(), lists: Vec::new() };
        if let Some(p) = &self.anonymous_ip {
            if !p.is_file() {
                errs.push(format!("geo.anonymous_ip: {} does not exist", p.display()));
            }
        }
        for (i, l) in self.anonymizer_lists.iter().enumerate() {
            match anon::parse(&l.kind) {
                Some(k) => out.lists.push((k, l.path.clone())),
                None => errs.push(format!(
                    "geo.anonymizer_lists[{i}].kind: {:?} is not vpn, tor, proxy, residential-proxy, relay or listed",
                    l.kind
                )),
            }
            if !l.path.is_file() {
                errs.push(format!("geo.anonymizer_lists[{i}].path: {} does not exist", l.path.display()));
            }
        }
        out
    }
}

/// A path, or a list of paths.
#[derive(Deserialize, Default, Debug, Clone)]
#[serde(untagged)]
pub enum OneOrMany {
    #[default]
    None,
    One(PathBuf),
    Many(Vec<PathBuf>),
}

impl OneOrMany {
    pub fn paths(&self) -> Vec<PathBuf> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(p) => vec![p.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}
