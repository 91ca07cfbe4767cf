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
        self.0.finish_with_message(msg.to_string());
    }
}
