//! GeoIP and ASN from MaxMind DB files: GeoIP2/GeoLite2 City and ASN, and the
//! flat DB-IP Lite city schema (chosen by the database metadata or forced).
//! Only the fields rules need are decoded. Private, loopback and other
//! special addresses get no location, explicitly, without a lookup.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use maxminddb::{LookupResult, Reader};
use serde::Deserialize;

use crate::model::{AccessEvent, Geo};
use crate::token::TwoGenCache;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum GeoSchema {
    /// From the database's `database_type`.
    Auto,
    /// GeoIP2 / GeoLite2 City (nested `location`, `city.names`, `country`).
    Geoip2,
    /// DB-IP Lite city, flat (`latitude`, `longitude`, `city`, `country_code`).
    Dbip,
}

#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("cannot open GeoIP database {path}: {why}")]
    Open { path: String, why: String },
    #[error("{path} is a {found:?} database, expected {expected}")]
    Kind { path: String, found: String, expected: &'static str },
}

#[derive(Deserialize, Default)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}
#[derive(Deserialize, Default)]
struct Named<'a> {
    #[serde(borrow, default)]
    names: Names<'a>,
}
#[derive(Deserialize, Default)]
struct Country<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}
#[derive(Deserialize, Default)]
struct Location {
    latitude: Option<Coord>,
    longitude: Option<Coord>,
    accuracy_radius: Option<u16>,
}
#[derive(Deserialize)]
struct Geoip2City<'a> {
    #[serde(borrow, default)]
    city: Named<'a>,
    #[serde(borrow, default)]
    country: Country<'a>,
    #[serde(default)]
    location: Location,
}
#[derive(Deserialize)]
struct DbipCity<'a> {
    #[serde(borrow, default)]
    city: Option<&'a str>,
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(default)]
    latitude: Option<Coord>,
    #[serde(default)]
    longitude: Option<Coord>,
}

/// A coordinate stored as a double (MaxMind) or a float (DB-IP Lite builds).
#[derive(Clone, Copy)]
struct Coord(f64);

impl<'de> Deserialize<'de> for Coord {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Coord;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a coordinate")
            }
            fn visit_f32<E: serde::de::Error>(self, v: f32) -> Result<Coord, E> {
                Ok(Coord(v as f64))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Coord, E> {
                Ok(Coord(v))
            }
        }
        d.deserialize_any(V)
    }
}
#[derive(Deserialize)]
struct Asn<'a> {
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
}

/// The opened databases, shared by every worker. Several city databases may
/// be given (DB-IP ships IPv4 and IPv6 in two files): the first that knows
/// an address answers.
pub struct GeoDb {
    city: Vec<(Reader<Vec<u8>>, GeoSchema)>,
    asn: Option<Reader<Vec<u8>>>,
    anonymizers: super::Anonymizers,
    /// Sources to credit in reports (DB-IP Lite requires attribution).
    pub attribution: Vec<String>,
}

fn open(path: &Path) -> Result<Reader<Vec<u8>>, GeoError> {
    Reader::open_readfile(path).map_err(|e| GeoError::Open { path: path.display().to_string(), why: e.to_string() })
}

impl GeoDb {
    pub fn open(city: Option<&Path>, asn: Option<&Path>, schema: GeoSchema) -> Result<Self, GeoError> {
        let cities: Vec<&Path> = city.into_iter().collect();
        Self::open_many(&cities, asn, schema)
    }

    pub fn open_many(cities: &[&Path], asn: Option<&Path>, schema: GeoSchema) -> Result<Self, GeoError> {
        let mut attribution = Vec::new();
        let mut city = Vec::new();
        for p in cities {
            let r = open(p)?;
            let t = r.metadata().database_type.to_ascii_lowercase();
            if t.contains("asn") && !t.contains("city") {
                return Err(GeoError::Kind { path: p.display().to_string(), found: t, expected: "a city database" });
            }
            let s = match schema {
                GeoSchema::Auto => detect_schema(&r, &t),
                s => s,
            };
            let credit = "IP Geolocation by DB-IP (https://db-ip.com), CC BY 4.0".to_string();
            if s == GeoSchema::Dbip && !attribution.contains(&credit) {
                attribution.push(credit);
            }
            city.push((r, s));
        }
        let asn = asn.map(open).transpose()?;
        Ok(GeoDb { city, asn, anonymizers: Default::default(), attribution })
    }

    /// Mark the addresses of anonymizers (VPN, Tor, proxies, relays).
    pub fn with_anonymizers(mut self, a: super::Anonymizers) -> Self {
        self.anonymizers = a;
        self
    }

    /// Look an address up (uncached). `None` for special addresses and
    /// addresses no database knows.
    pub fn lookup(&self, ip: IpAddr) -> Option<Geo> {
        let found = self.find(ip)?;
        self.answer(&found)
    }

    /// The records `ip`'s answers come from (no decoding): `None` for a
    /// special address.
    fn find(&self, ip: IpAddr) -> Option<Found<'_>> {
        if is_special(ip) {
            return None;
        }
        Some(Found {
            city: self.city.iter().map(|(r, _)| r.lookup(ip).ok()).collect(),
            asn: self.asn.as_ref().and_then(|r| r.lookup(ip).ok()),
            anonymizer: self.anonymizers.lookup(ip),
        })
    }

    /// The answer of found records: the first city database that knows the
    /// address and decodes, the ASN, the anonymizer bits.
    fn answer(&self, f: &Found<'_>) -> Option<Geo> {
        let mut g = Geo::default();
        let mut found = false;
        for (res, (_, schema)) in f.city.iter().zip(&self.city) {
            if let Some(res) = res {
                if res.has_data() && decode_city(res, *schema, &mut g) {
                    found = true;
                    break;
                }
            }
        }
        unplace_off_globe(&mut g);
        if let Some(Ok(Some(a))) = f.asn.as_ref().map(|res| res.decode::<Asn>()) {
            g.asn = a.autonomous_system_number;
            g.as_org = a.autonomous_system_organization.map(Into::into);
            found |= g.asn.is_some();
        }
        if f.anonymizer != 0 {
            g.anonymizer = f.anonymizer;
            found = true;
        }
        found.then_some(g)
    }
}

/// What the databases hold for one address, before decoding.
struct Found<'a> {
    /// Per city database, in order (`None`: the lookup failed).
    city: smallvec::SmallVec<[Option<LookupResult<'a, Vec<u8>>>; 2]>,
    asn: Option<LookupResult<'a, Vec<u8>>>,
    anonymizer: u8,
}

/// The most city databases a [`RecordKey`] names (more: answers unshared).
const KEY_CITIES: usize = 4;

/// Which records an address's answer is decoded from: every city
/// database's data offset, the ASN's, the anonymizer bits. The answer is a
/// function of these alone, so addresses with equal keys share one
/// answer. An address chooses its key only among the records the
/// databases hold. Offsets as `u32` (a MaxMind DB pointer has at most 32
/// bits), [`RecordKey::NONE`] for no data: 24 bytes a key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct RecordKey {
    city: [u32; KEY_CITIES],
    asn: u32,
    anonymizer: u8,
}

impl RecordKey {
    const NONE: u32 = u32::MAX;

    /// A record's offset; `None` when it does not fit (no key then).
    fn offset(res: &Option<LookupResult<'_, Vec<u8>>>) -> Option<u32> {
        // a failed lookup and one without data answer alike: nothing
        match res.as_ref().and_then(|r| r.offset()) {
            None => Some(Self::NONE),
            Some(o) => u32::try_from(o).ok().filter(|&o| o != Self::NONE),
        }
    }
}

impl Found<'_> {
    fn key(&self) -> Option<RecordKey> {
        if self.city.len() > KEY_CITIES {
            return None;
        }
        let mut city = [RecordKey::NONE; KEY_CITIES];
        for (k, res) in city.iter_mut().zip(&self.city) {
            *k = RecordKey::offset(res)?;
        }
        Some(RecordKey { city, asn: RecordKey::offset(&self.asn)?, anonymizer: self.anonymizer })
    }
}

/// A database's coordinates off the globe (a latitude past the pole, an
/// accuracy radius past half the Earth's circumference: a broken or
/// hand-made file) are no place: the names and the network stay.
fn unplace_off_globe(g: &mut Geo) {
    if g.out_of_range().is_some() {
        (g.lat, g.lon, g.radius_km) = (None, None, 0.0);
    }
}

/// The schema of a city database: by its type name when it says, else by
/// the shape of its first records (DB-IP Lite builds call themselves just
/// "city ipv4").
fn detect_schema(r: &Reader<Vec<u8>>, type_lower: &str) -> GeoSchema {
    if type_lower.contains("geoip2") || type_lower.contains("geolite2") {
        return GeoSchema::Geoip2;
    }
    if type_lower.contains("dbip") || type_lower.contains("db-ip") {
        return GeoSchema::Dbip;
    }
    let Ok(networks) = r.networks(Default::default()) else { return GeoSchema::Geoip2 };
    for res in networks.take(32).flatten() {
        if let Ok(Some(d)) = res.decode::<DbipCity>() {
            if d.latitude.is_some() {
                return GeoSchema::Dbip;
            }
        }
    }
    GeoSchema::Geoip2
}

fn decode_city(res: &maxminddb::LookupResult<'_, Vec<u8>>, schema: GeoSchema, g: &mut Geo) -> bool {
    match schema {
        GeoSchema::Dbip => match res.decode::<DbipCity>() {
            Ok(Some(c)) => {
                g.lat = c.latitude.map(|c| c.0);
                g.lon = c.longitude.map(|c| c.0);
                g.city = c.city.map(Into::into);
                g.country = c.country_code.map(Into::into);
                true
            }
            _ => false,
        },
        _ => match res.decode::<Geoip2City>() {
            Ok(Some(c)) => {
                g.lat = c.location.latitude.map(|c| c.0);
                g.lon = c.location.longitude.map(|c| c.0);
                g.radius_km = c.location.accuracy_radius.map(f64::from).unwrap_or(0.0);
                g.city = c.city.names.en.map(Into::into);
                g.country = c.country.iso_code.map(Into::into);
                true
            }
            _ => false,
        },
    }
}

/// Addresses that never have a location: private, loopback, link-local,
/// unspecified, multicast, broadcast, CGNAT, ULA.
pub fn is_special(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            a.is_private()
                || a.is_loopback()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_multicast()
                || a.is_broadcast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_special(IpAddr::V4(v4));
            }
            a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
        }
    }
}

/// A worker's cached view of a [`GeoDb`].
pub struct GeoLookup {
    db: Arc<GeoDb>,
    /// Addresses are attacker-chosen: a randomly seeded hasher (ahash).
    cache: TwoGenCache<IpAddr, Option<Arc<Geo>>, ahash::RandomState>,
    /// Answers by the records they were decoded from: the addresses of one
    /// network share one answer (decoded once, one allocation, one cache
    /// line for every event from that network), however many addresses
    /// the network's clients (or a spray) use.
    records: TwoGenCache<RecordKey, Option<Arc<Geo>>, ahash::RandomState>,
}

impl GeoLookup {
    /// `cache_capacity` addresses per generation (`geo.cache_size`), and a
    /// quarter as many record keys: records are looked for only when an
    /// address is not cached.
    pub fn new(db: Arc<GeoDb>, cache_capacity: usize) -> Self {
        let records = TwoGenCache::new((cache_capacity / 4).max(1));
        GeoLookup { db, cache: TwoGenCache::new(cache_capacity), records }
    }

    pub fn lookup(&mut self, ip: IpAddr) -> Option<Arc<Geo>> {
        if let Some(hit) = self.cache.get(&ip) {
            return hit;
        }
        let g = self.by_records(ip);
        self.cache.insert(ip, g.clone());
        g
    }

    fn by_records(&mut self, ip: IpAddr) -> Option<Arc<Geo>> {
        let found = self.db.find(ip)?;
        let key = found.key();
        if let Some(hit) = key.and_then(|k| self.records.get(&k)) {
            return hit;
        }
        let g = self.db.answer(&found).map(Arc::new);
        if let Some(k) = key {
            self.records.insert(k, g.clone());
        }
        g
    }

    /// Set `ev.geo` from the database. A place the line itself carries
    /// (the `tokenhound` profile's `geo`) is the writer's word: with a
    /// database configured the database's answer replaces it, even when it
    /// knows nothing of the address (a line naming a private address could
    /// otherwise place itself anywhere, or mark itself a VPN exit, and turn
    /// impossible travel into a low signal).
    pub fn enrich(&mut self, ev: &mut AccessEvent) {
        ev.geo = ev.client_ip.and_then(|ip| self.lookup(ip));
    }
}

#[cfg(test)]
#[path = "geo_tests.rs"]
mod tests;
