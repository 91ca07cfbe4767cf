//! The report's map: the world's countries (Natural Earth 1:110m, public
//! domain; `assets/world-110m.bin`, made by `scripts/make-world-asset.py`,
//! embedded in the binary) as inline SVG, equirectangular, with the stolen
//! tokens' located uses on it: the owners' and the attackers' in two
//! colours, and a line between consecutive uses of a token. Places are
//! drawn once per side, sized by their number of uses, and named.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::incident::Incident;

const WORLD: &[u8] = include_bytes!("../../assets/world-110m.bin");
pub const OWNER: &str = "#1f77b4";
pub const ATTACKER: &str = "#d62728";
/// Latitudes shown (the Antarctic coast and the far north are left out).
const NORTH: f64 = 84.0;
const SOUTH: f64 = -58.0;
/// SVG units per degree (the picture is 3600 wide, shown at 960 px).
const K: f64 = 10.0;

/// The country rings: points in hundredths of a degree (lon, lat).
fn rings() -> Vec<Vec<(i16, i16)>> {
    let rd = |i: usize| i16::from_le_bytes([WORLD[i], WORLD[i + 1]]);
    let mut out = Vec::new();
    if WORLD.get(..4) != Some(b"THW1") {
        return out;
    }
    let n = rd(4) as u16 as usize;
    let mut at = 6;
    for _ in 0..n {
        let Some(len) = WORLD.get(at..at + 2).map(|_| rd(at) as u16 as usize) else { break };
        at += 2;
        if WORLD.len() < at + 4 * len {
            break;
        }
        out.push((0..len).map(|j| (rd(at + 4 * j), rd(at + 4 * j + 2))).collect());
        at += 4 * len;
    }
    out
}

fn xy(lon: f64, lat: f64) -> (i64, i64) {
    (((lon + 180.0) * K).round() as i64, ((NORTH - lat.clamp(SOUTH, NORTH)) * K).round() as i64)
}

/// The countries as one SVG path, relative moves in whole units.
fn land_path() -> String {
    let mut d = String::with_capacity(64 * 1024);
    // Antarctica lies below the picture
    for r in rings().into_iter().filter(|r| r.iter().any(|p| f64::from(p.1) / 100.0 > SOUTH)) {
        let mut last: Option<(i64, i64)> = None;
        for (lon, lat) in r {
            let p = xy(lon as f64 / 100.0, lat as f64 / 100.0);
            match last {
                // a ring crossing the antimeridian (Fiji, Chukotka) jumps instead of drawing across the world
                None => {
                    let _ = write!(d, "M{} {}", p.0, p.1);
                }
                Some((x, _)) if (p.0 - x).abs() > (180.0 * K) as i64 => {
                    let _ = write!(d, "M{} {}", p.0, p.1);
                }
                Some((x, y)) if (x, y) != p => {
                    let _ = write!(d, "l{} {}", p.0 - x, p.1 - y);
                }
                _ => continue,
            }
            last = Some(p);
        }
        d.push('z');
    }
    d
}

/// A point of the picture.
type Xy = (i64, i64);
/// A located use's place: its coordinates and its name.
type Place = (Xy, String);

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// A box: left, top, right, bottom.
type Box4 = (i64, i64, i64, i64);

/// Label text size, in picture units.
const FONT: i64 = 34;

/// The box a label's text covers, centred on `at` (its baseline): (left,
/// top, right, bottom), wide enough for any glyph of the font at 0.62 em.
fn label_box(at: Xy, text: &str) -> Box4 {
    let half = (text.chars().count() as i64 * FONT * 62 / 100 + 1) / 2 + 4;
    (at.0 - half, at.1 - FONT, at.0 + half, at.1 + FONT / 3)
}

fn overlap(a: Box4, b: Box4) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

/// Where each label goes, in the order given (the first ones win a
/// crowded spot): below an attacker's dot or above an owner's, else on the
/// other side, to the right or to the left; a label whose every spot
/// covers one already placed is left out (its dot keeps its name in the
/// tooltip). No two placed labels overlap.
fn place_labels(labels: &[(bool, Xy, String)]) -> Vec<(bool, Xy, &str)> {
    let mut placed: Vec<(Box4, (bool, Xy, &str))> = Vec::new();
    for (attacker, p, text) in labels {
        let half = label_box((0, 0), text).2;
        let (near, far) = if *attacker { (50, -30) } else { (-30, 50) };
        let spots = [(0, near), (0, far), (half + 30, 12), (-half - 30, 12)];
        let free = spots.iter().map(|(dx, dy)| (p.0 + dx, p.1 + dy)).find(|at| {
            let b = label_box(*at, text);
            !placed.iter().any(|(q, _)| overlap(b, *q))
        });
        if let Some(at) = free {
            placed.push((label_box(at, text), (*attacker, at, text.as_str())));
        }
    }
    placed.into_iter().map(|(_, l)| l).collect()
}

/// The map of the incidents' uses.
pub fn svg(incidents: &[Incident]) -> String {
    let (w, h) = (360.0 * K, (NORTH - SOUTH) * K);
    let mut s = format!(
        r##"<svg class="map" viewBox="0 0 {w} {h}" width="960" height="{:.0}" role="img" aria-label="where the stolen tokens were used"><rect width="{w}" height="{h}" fill="#f2f6fa"/>"##,
        960.0 * h / w
    );
    for lon in (-150..=150).step_by(30) {
        let x = xy(lon as f64, 0.0).0;
        let _ = write!(s, r##"<line x1="{x}" y1="0" x2="{x}" y2="{h}" stroke="#dde5ec" stroke-width="2"/>"##);
    }
    for lat in [-30, 0, 30, 60] {
        let y = xy(0.0, lat as f64).1;
        let _ = write!(s, r##"<line x1="0" y1="{y}" x2="{w}" y2="{y}" stroke="#dde5ec" stroke-width="2"/>"##);
    }
    let _ = write!(
        s,
        r##"<path d="{}" fill="#dfe3e8" stroke="#8f9aa6" stroke-width="1.5" stroke-linejoin="round" fill-rule="evenodd"/>"##,
        land_path()
    );
    // places per side, and the moves between consecutive located uses of a token
    let mut dots: BTreeMap<(bool, Place), usize> = BTreeMap::new();
    let mut moves: BTreeMap<(bool, Xy, Xy), usize> = BTreeMap::new();
    for inc in incidents {
        let mut prev: Option<((i64, i64), bool)> = None;
        for u in &inc.timeline {
            let (Some(lat), Some(lon)) = (u.lat, u.lon) else { continue };
            let p = xy(lon, lat);
            let name = match (&u.city, &u.country) {
                (Some(c), Some(cc)) => format!("{c}, {cc}"),
                (None, Some(cc)) => cc.clone(),
                (Some(c), None) => c.clone(),
                (None, None) => format!("{lat:.1}, {lon:.1}"),
            };
            *dots.entry((u.attacker, (p, name))).or_default() += 1;
            if let Some((q, was)) = prev.filter(|(q, _)| *q != p) {
                *moves.entry((was || u.attacker, q, p)).or_default() += 1;
            }
            prev = Some((p, u.attacker));
        }
    }
    for ((attacker, a, b), n) in &moves {
        let (colour, width) = (if *attacker { ATTACKER } else { OWNER }, (2.0 + (*n as f64).sqrt()).min(8.0));
        let _ = write!(
            s,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{colour}" stroke-width="{width:.1}" stroke-opacity="0.55"/>"#,
            a.0, a.1, b.0, b.1
        );
    }
    let mut labels: Vec<(bool, (i64, i64), &str, usize)> = Vec::new();
    for ((attacker, (p, name)), n) in &dots {
        let (colour, who) = if *attacker { (ATTACKER, "attacker") } else { (OWNER, "owner") };
        let r = 12.0 + 3.0 * (*n as f64).sqrt().min(10.0);
        let _ = write!(
            s,
            r##"<circle cx="{}" cy="{}" r="{r:.0}" fill="{colour}" stroke="#fff" stroke-width="3"><title>{} ({who}): {n} uses</title></circle>"##,
            p.0,
            p.1,
            esc(name)
        );
        labels.push((*attacker, *p, name, *n));
    }
    // names: the attackers' places first, then the most used; none over another
    labels.sort_by(|a, b| b.0.cmp(&a.0).then(b.3.cmp(&a.3)));
    let texts: Vec<(bool, Xy, String)> =
        labels.into_iter().map(|(attacker, p, name, n)| (attacker, p, format!("{name} ({n})"))).collect();
    for (attacker, at, text) in place_labels(&texts) {
        let colour = if attacker { ATTACKER } else { OWNER };
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" font-size="{FONT}" fill="{colour}" text-anchor="middle">{}</text>"#,
            at.0,
            at.1,
            esc(text)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_is_embedded_and_projects_into_the_picture() {
        let r = rings();
        assert!(r.len() > 200, "{} rings", r.len());
        let pts: usize = r.iter().map(Vec::len).sum();
        assert!(pts > 5000, "{pts} points");
        // every point is a longitude and a latitude
        assert!(r.iter().flatten().all(|(lon, lat)| lon.abs() <= 18_000 && lat.abs() <= 9_000));
        assert_eq!(xy(-180.0, NORTH), (0, 0));
        assert_eq!(xy(180.0, SOUTH), (3600, 1420));
        let d = land_path();
        assert!(d.starts_with('M') && d.matches('z').count() < r.len(), "Antarctica left out");
        // no stroke runs across the world (Fiji and Chukotka jump at the antimeridian)
        let widest = d.split('l').skip(1).filter_map(|m| m.split(' ').next()?.parse::<i64>().ok()).map(i64::abs).max();
        assert!(widest.is_some_and(|w| w < 1800), "{widest:?}");
    }

    #[test]
    fn names_on_the_map_are_escaped() {
        let mut inc = fixture();
        inc.timeline[0].city = Some("<script>x</script>".into());
        let s = svg(&[inc]);
        assert!(!s.contains("<script>") && s.contains("&lt;script&gt;"));
        assert!(s.contains(OWNER) && s.contains(ATTACKER));
    }

    fn fixture() -> Incident {
        let u = |attacker: bool, lat: f64, lon: f64| super::super::incident::Use {
            time_us: 0,
            ip: None,
            asn: None,
            as_org: None,
            country: Some("GB".into()),
            city: Some("London".into()),
            lat: Some(lat),
            lon: Some(lon),
            user_agent: None,
            method: "GET".into(),
            path: "/".into(),
            status: 200,
            bytes: None,
            attacker,
            after_revocation: false,
        };
        Incident {
            token: "t".into(),
            sub: None,
            client_id: None,
            rules: Default::default(),
            findings: Vec::new(),
            first_finding_us: 0,
            first_suspicious_us: None,
            infrastructure: Default::default(),
            blast_radius: Default::default(),
            timeline: vec![u(false, 51.5, -0.1), u(true, 32.7, -117.1)],
        }
    }

    #[test]
    fn labels_never_overlap_in_a_crowded_europe() {
        // 40 places between Lisbon and Warsaw, London and Rome, names long and short
        let names =
            ["London, GB", "Frankfurt am Main, DE", "Paris, FR", "Amsterdam, NL", "Brussels, BE", "Luxembourg, LU"];
        let mut labels = Vec::new();
        for i in 0..40i64 {
            let (lon, lat) = (-9.0 + (i * 7 % 31) as f64, 38.0 + (i * 5 % 17) as f64);
            let text = format!("{} ({})", names[i as usize % names.len()], i + 1);
            labels.push((i % 3 == 0, xy(lon, lat), text));
        }
        let placed = place_labels(&labels);
        assert!(placed.len() >= 5, "{} labels placed", placed.len());
        assert!(placed.len() < labels.len(), "a crowd cannot all be named");
        for (i, a) in placed.iter().enumerate() {
            for b in &placed[i + 1..] {
                assert!(!overlap(label_box(a.1, a.2), label_box(b.1, b.2)), "{a:?} over {b:?}");
            }
        }
        // the first label (an attacker's) gets its first spot, below its dot
        assert_eq!(placed[0].1, (labels[0].1 .0, labels[0].1 .1 + 50));
        // and the rendered map draws exactly the placed ones
        let mut inc = fixture();
        inc.timeline = (0..40)
            .map(|i| {
                let mut u = fixture().timeline[i % 2].clone();
                (u.lon, u.lat) = (Some(-9.0 + (i * 7 % 31) as f64), Some(38.0 + (i * 5 % 17) as f64));
                u.city = Some(names[i % names.len()].into());
                u
            })
            .collect();
        let s = svg(&[inc]);
        let boxes: Vec<_> = s
            .split("<text ")
            .skip(1)
            .map(|t| {
                let num = |k: &str| t.split(k).nth(1).and_then(|v| v.split('"').next()).and_then(|v| v.parse().ok());
                let text = t.split('>').nth(1).and_then(|v| v.split('<').next()).unwrap_or("");
                label_box((num("x=\"").unwrap_or(0), num(" y=\"").unwrap_or(0)), text)
            })
            .collect();
        assert!(boxes.len() >= 5, "{} labels drawn", boxes.len());
        for (i, a) in boxes.iter().enumerate() {
            assert!(boxes[i + 1..].iter().all(|b| !overlap(*a, *b)), "overlapping labels in the SVG");
        }
    }
}
