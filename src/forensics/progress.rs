//! Progress bars for the long steps of `investigate` (indicatif, on stderr;
//! hidden when stderr is not a terminal, so logs and CI stay clean).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress(ProgressBar);

impl Progress {
    fn new(len: Option<u64>, msg: &str, template: &str) -> Self {
        let b = match len {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        b.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
        b.set_message(msg.to_string());
        Progress(b)
    }

    /// Input bytes are known; lines are counted as they come.
    pub fn bytes(msg: &str, total: u64) -> Self {
        Self::new(Some(total), msg, "{msg:28} {spinner} {pos} events, {elapsed_precise}")
    }

    pub fn count(msg: &str, total: u64) -> Self {
        Self::new(Some(total), msg, "{msg:28} [{bar:30}] {pos}/{len} {eta}")
    }

    pub fn spinner(msg: &str) -> Self {
        let p = Self::new(None, msg, "{msg:28} {spinner} {elapsed_precise}");
        p.0.enable_steady_tick(std::time::Duration::from_millis(120));
        p
    }

    pub fn set(&self, n: u64) {
        self.0.set_position(n);
    }

    pub fn finish(&self, msg: &str) {
        phase_end(&self.0.message());
        self.0.finish_with_message(msg.to_string());
    }
}

/// With `TH_MEM_PHASES` set (not a `TOKENHOUND_*` name: those are settings): on stderr, the resident memory now and
/// its peak since the last call (Linux `/proc/self/status`; the peak is
/// reset through `/proc/self/clear_refs`), and the seconds spent, at the
/// end of a phase of `investigate`. For measuring which phase holds memory.
#[allow(clippy::disallowed_methods)] // the driver times its own phases (a measurement, not a verdict)
pub fn phase_end(name: &str) {
    use std::sync::Mutex;
    use std::time::Instant;
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    if std::env::var_os("TH_MEM_PHASES").is_none() {
        return;
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(key)).unwrap_or("");
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
    };
    let (rss, peak) = (kib("VmRSS:"), kib("VmHWM:"));
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let secs = last.map_or(0.0, |t| t.elapsed().as_secs_f64());
    *last = Some(Instant::now());
    eprintln!("phase {name:24} {secs:7.2} s, peak {:6} MiB, now {:6} MiB", peak / 1024, rss / 1024);
    // "5" resets the peak resident size to the current one
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
