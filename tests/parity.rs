//! Stream = replay, whatever the partitioning and the read order. A
//! generated log (planted thefts) is split over k simulated gateway
//! partitions and read by the stream's own ingest -> detect logic, in
//! process: the reader, the partition clocks and their watermark records,
//! the events topic's wire format, and one `stream::partition::Partition`
//! per events partition, in random read orders (one gateway partition far
//! behind, bursts, detect lagging behind ingest, a gateway partition that
//! appears mid-stream, one that never receives a record), with and without
//! a crash of the detector and a restart that rebuilds its state from the
//! events topic as the stream does. The set of finding uids must equal
//! `tokenhound replay`'s on the same file, with 1 and with 2 threads.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use tokenhound::app::Pipeline;
use tokenhound::engine::EngineConfig;
use tokenhound::enrich::{load_revocations, Reader};
use tokenhound::model::{EventTime, Finding, RevocationView, SourcePos};
use tokenhound::rules::{load_dir, RuleSet};
use tokenhound::stream::clock::Clocks;
use tokenhound::stream::partition::Partition;
use tokenhound::stream::wire::pack::Pack;
use tokenhound::stream::wire::{self, Record};

const EVENTS_PARTS: usize = 4;
const LATENESS: i64 = 5;

struct Fixture {
    _dir: tempfile::TempDir,
    lines: Vec<String>,
    pipeline: Pipeline,
    rules: Arc<RuleSet>,
    revs: Arc<RevocationView>,
    replay: BTreeSet<String>,
}

fn uids_of(alerts: &str) -> BTreeSet<String> {
    alerts
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["finding_info"]["uid"].as_str().unwrap().into())
        .collect()
}

fn replay(log: &Path, revs: &Path, threads: &str) -> BTreeSet<String> {
    let out = common::run(&[
        "replay",
        "--config",
        "sample-logs/tokenhound.toml",
        "--revocations",
        revs.to_str().unwrap(),
        "--threads",
        threads,
        log.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    uids_of(&common::text(&out.stdout))
}

/// One generated log, its replay (1 and 2 threads agree), and the pieces
/// the simulated stream needs.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = common::tempdir();
        let (log, revs): (PathBuf, PathBuf) = (dir.path().join("gen.ndjson"), dir.path().join("revs.ndjson"));
        let out = common::run(&[
            "gen",
            "--lines",
            "6000",
            "--seed",
            "23",
            "-o",
            log.to_str().unwrap(),
            "--revocations",
            revs.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", common::text(&out.stderr));
        let one = replay(&log, &revs, "1");
        assert_eq!(one, replay(&log, &revs, "2"), "replay does not depend on its threads");
        assert!(one.len() >= 10, "the planted thefts alert: {}", one.len());
        let raw = tokenhound::settings::load_raw(
            Some(&common::root().join("sample-logs/tokenhound.toml")),
            std::iter::empty(),
        )
        .unwrap();
        let pipeline = Pipeline::from_settings(raw.validate().unwrap()).unwrap();
        let rules = Arc::new(load_dir(&common::root().join("rules")).unwrap());
        let lines = std::fs::read_to_string(&log).unwrap().lines().map(String::from).collect();
        let revs = Arc::new(load_revocations(&revs).unwrap());
        Fixture { _dir: dir, lines, pipeline, rules, revs, replay: one }
    })
}

/// How the simulated stream reads.
#[derive(Debug, Clone)]
struct Plan {
    /// Gateway partitions (one of them gets no record at all).
    k: usize,
    /// Which gateway partition each line is written to (cycled).
    spread: Vec<u8>,
    /// The order the ingest reads partitions in (cycled): bursts repeat one.
    reads: Vec<u8>,
    /// This partition is read only once the others are done (far behind).
    laggard: Option<u8>,
    /// The last partition appears (is assigned) mid-stream, holding only
    /// lines from there on.
    late_partition: bool,
    /// Records the detect consumes per ingest read (it lags or keeps up).
    detect_pace: Vec<u8>,
    /// Kill the detector after this many ingest reads, and restart it.
    crash_at: Option<usize>,
    /// Events go out in packs, one per events partition and watermark
    /// period (format 3), instead of a record each (format 2).
    packed: bool,
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        2usize..=4,
        proptest::collection::vec(0u8..8, 1..40),
        proptest::collection::vec(0u8..8, 1..60),
        proptest::option::of(0u8..4),
        any::<bool>(),
        proptest::collection::vec(0u8..4, 1..20),
        proptest::option::of(0usize..6000),
        any::<bool>(),
    )
        .prop_map(|(k, spread, reads, laggard, late_partition, detect_pace, crash_at, packed)| Plan {
            k,
            spread,
            reads,
            laggard: laggard.map(|l| l % k as u8),
            late_partition,
            detect_pace,
            crash_at,
            packed,
        })
}

/// The detect side: a partition state per events partition, its read
/// position, the offsets still held and the committed offsets.
struct Detect {
    parts: Vec<Partition>,
    pos: Vec<usize>,
    held: Vec<BTreeSet<(EventTime, usize)>>,
    live_from: Vec<usize>,
    found: BTreeSet<String>,
}

impl Detect {
    fn new(f: &Fixture, live_from: Vec<usize>) -> Self {
        let mut cfg =
            EngineConfig { allowed_lateness_secs: LATENESS, ..tokenhound::app::engine_config(&f.pipeline.settings) };
        cfg.limits = cfg.limits.share(EVENTS_PARTS);
        Detect {
            parts: (0..EVENTS_PARTS).map(|_| Partition::new(f.rules.clone(), f.revs.clone(), cfg, true)).collect(),
            pos: vec![0; EVENTS_PARTS],
            held: vec![BTreeSet::new(); EVENTS_PARTS],
            live_from,
            found: BTreeSet::new(),
        }
    }

    /// Consume one record of events partition `e`, if there is one.
    fn step(&mut self, e: usize, topic: &[Vec<Vec<u8>>], now_ms: i64) {
        let Some(rec) = topic[e].get(self.pos[e]) else { return };
        let off = self.pos[e];
        self.pos[e] += 1;
        let mut strings = tokenhound::ingest::Interner::new(1024);
        let rec = wire::decode(rec, &mut strings).expect("a record of ours");
        let time = match &rec {
            Record::Event(ev, _) => Some(ev.time),
            Record::Pack(evs) => evs.iter().map(|(e, _)| e.time).max(),
            Record::Marks(_) => None,
        };
        let mut out: Vec<Finding> = Vec::new();
        self.parts[e].record(rec, now_ms, &mut out);
        let wm = self.parts[e].watermark_now();
        if let Some(t) = time.filter(|t| *t > wm) {
            self.held[e].insert((t, off));
        }
        self.held[e].retain(|(t, _)| *t > wm);
        if off >= self.live_from[e] {
            self.found.extend(out.into_iter().map(|f| f.uid));
        }
    }

    /// The offset the detector would have committed: the first still held.
    fn committed(&self) -> Vec<usize> {
        (0..EVENTS_PARTS).map(|e| self.held[e].iter().map(|(_, o)| *o).min().unwrap_or(self.pos[e])).collect()
    }
}

fn events_partition(key: &str) -> usize {
    wire::partition_for(key.as_bytes(), EVENTS_PARTS as i32) as usize
}

/// Run the simulated stream; the uids of the alerts it produced.
#[allow(clippy::needless_range_loop)]
fn stream(f: &Fixture, p: &Plan) -> BTreeSet<String> {
    // partitions 0..k get lines; partition k never receives a record; with
    // `late_partition`, partition k-1 holds lines from the middle of the
    // log on and is assigned only once the others have read up to there
    let k = p.k + 1;
    let appear_at = f.lines.len() / 2;
    let late = p.late_partition.then_some(p.k - 1);
    let mut gw: Vec<Vec<(usize, &str)>> = vec![Vec::new(); k];
    for (i, l) in f.lines.iter().enumerate() {
        let mut g = p.spread[i % p.spread.len()] as usize % p.k;
        if late == Some(g) && i < appear_at {
            g = (g + 1) % p.k;
        }
        gw[g].push((i, l));
    }
    let mut reader: Reader = (f.pipeline.factory)(None);
    let mut clocks = Clocks::new(LATENESS, i64::MAX / 4, 30_000);
    let tp = |g: usize| -> (Arc<str>, i32) { ("gw".into(), g as i32) };
    let mut assigned: Vec<bool> = (0..k).map(|g| Some(g) != late).collect();
    for g in (0..k).filter(|&g| assigned[g]) {
        clocks.assign(&tp(g));
    }
    let mut topic: Vec<Vec<Vec<u8>>> = vec![Vec::new(); EVENTS_PARTS];
    let mut cursor = vec![0usize; k];
    let mut now_ms: i64 = 1_900_000_000_000; // processing time, far after the log
    let mut detect = Detect::new(f, vec![0; EVENTS_PARTS]);
    let (mut reads, mut pace) = (0usize, 0usize);
    // format 3: the period's packs, written just before its watermark records
    let mut packs: Option<Vec<Pack>> = p.packed.then(|| (0..EVENTS_PARTS).map(|_| Pack::default()).collect());
    let marks =
        |clocks: &mut Clocks, cursor: &[usize], topic: &mut Vec<Vec<Vec<u8>>>, packs: &mut Option<Vec<Pack>>, now| {
            for (t, pack) in topic.iter_mut().zip(packs.iter_mut().flatten()) {
                if !pack.is_empty() {
                    t.push(pack.bytes().to_vec());
                    pack.clear();
                }
            }
            for g in 0..k {
                clocks.set_caught_up(&tp(g), cursor[g] >= gw[g].len());
            }
            let m = wire::marks_to_vec(&clocks.marks(EventTime(now * 1000)));
            for t in topic.iter_mut() {
                t.push(m.clone());
            }
        };
    loop {
        // what may be read now: before the late partition is assigned, the
        // others only up to the middle of the log
        let readable = |g: usize| {
            assigned[g] && gw[g].get(cursor[g]).is_some_and(|(i, _)| late.is_none_or(|l| assigned[l]) || *i < appear_at)
        };
        let open: Vec<usize> = (0..k).filter(|&g| readable(g)).collect();
        if open.is_empty() {
            match late.filter(|&l| !assigned[l]) {
                Some(l) => {
                    assigned[l] = true;
                    clocks.assign(&tp(l));
                    continue;
                }
                None => break,
            }
        }
        let ahead: Vec<usize> = open.iter().copied().filter(|&g| Some(g as u8) != p.laggard).collect();
        let pool = if ahead.is_empty() { &open } else { &ahead };
        let g = pool[p.reads[reads % p.reads.len()] as usize % pool.len()];
        ingest_one(&mut reader, &mut clocks, &gw, &mut cursor, (&mut topic, &mut packs), g, now_ms);
        reads += 1;
        if reads.is_multiple_of(5) {
            now_ms += 100;
            marks(&mut clocks, &cursor, &mut topic, &mut packs, now_ms);
        }
        let n = p.detect_pace[pace % p.detect_pace.len()] as usize;
        pace += 1;
        for i in 0..n {
            detect.step((reads + i) % EVENTS_PARTS, &topic, now_ms);
        }
        if p.crash_at == Some(reads) {
            // SIGKILL: the state is gone; the restart rebuilds it from the
            // events topic (silently up to the committed offsets), then goes on live
            let committed = detect.committed();
            let mut fresh = Detect::new(f, committed.clone());
            fresh.found = std::mem::take(&mut detect.found);
            for e in 0..EVENTS_PARTS {
                while fresh.pos[e] < committed[e] {
                    fresh.step(e, &topic, now_ms);
                }
            }
            detect = fresh;
        }
    }
    // every source is caught up: watermarks move on with processing time
    for _ in 0..200_000 {
        now_ms += 100;
        marks(&mut clocks, &cursor, &mut topic, &mut packs, now_ms);
        for e in 0..EVENTS_PARTS {
            while detect.pos[e] < topic[e].len() {
                detect.step(e, &topic, now_ms);
            }
        }
        if (0..EVENTS_PARTS).all(|e| detect.parts[e].stats().buffered == 0) {
            break;
        }
    }
    detect.found
}

fn ingest_one(
    reader: &mut Reader,
    clocks: &mut Clocks,
    gw: &[Vec<(usize, &str)>],
    cursor: &mut [usize],
    (topic, packs): (&mut [Vec<Vec<u8>>], &mut Option<Vec<Pack>>),
    g: usize,
    now_ms: i64,
) {
    let off = cursor[g];
    cursor[g] += 1;
    let src = SourcePos::Kafka { topic: "gw".into(), partition: g as i32, offset: off as i64 };
    let (mut evs, mut errs) = (Vec::new(), Vec::new());
    reader.read(gw[g][off].1.as_bytes(), &src, &mut evs, &mut errs);
    assert!(errs.is_empty(), "{errs:?}");
    let tp: (Arc<str>, i32) = ("gw".into(), g as i32);
    for (i, ev) in evs.iter().enumerate() {
        clocks.seen(&tp, ev.time, EventTime(now_ms * 1000));
        if let Some(key) = wire::key(ev) {
            let e = events_partition(&key);
            match packs {
                Some(packs) => packs[e].push(ev, i as u32, &mut Vec::new()),
                None => topic[e].push(wire::to_vec(ev, i as u32)),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_stream_finds_what_replay_finds(p in plan()) {
        let f = fixture();
        let got = stream(f, &p);
        let missing: Vec<_> = f.replay.difference(&got).collect();
        let extra: Vec<_> = got.difference(&f.replay).collect();
        prop_assert!(missing.is_empty() && extra.is_empty(), "plan {:?}: missing {:?}, extra {:?}", p, missing, extra);
    }
}
