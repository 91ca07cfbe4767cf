//! Delivery over HTTP with the guard rails a hook needs: the configured URL
//! only (no redirects followed), a timeout, exponential backoff with jitter,
//! `Retry-After` honoured, `410 Gone` disables the hook, and after the last
//! attempt the caller dead-letters the request with the reason.

use std::time::Duration;

/// The end of one delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Delivered {
        attempts: u32,
    },
    /// Gave up: permanent error or out of attempts.
    Failed {
        reason: String,
        attempts: u32,
    },
    /// The receiver said 410: stop using this hook.
    Gone,
}

/// One attempt's verdict.
#[derive(Debug, PartialEq)]
pub enum Attempt {
    Ok,
    Retry { why: String, after: Option<Duration> },
    Fail(String),
    Gone,
}

#[derive(Clone)]
pub struct Retry {
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
}

impl Retry {
    /// Run `attempt` until it succeeds, fails for good, or attempts run out;
    /// the action `id` seeds the jitter, so requests do not retry in step.
    pub fn run(&self, id: &str, mut attempt: impl FnMut() -> Attempt, sleep: &mut dyn FnMut(Duration)) -> Delivery {
        let mut rng = id.bytes().fold(7u64, |a, b| a.wrapping_mul(131).wrapping_add(b as u64)) | 1;
        for n in 1..=self.max_attempts {
            match attempt() {
                Attempt::Ok => return Delivery::Delivered { attempts: n },
                Attempt::Gone => return Delivery::Gone,
                Attempt::Fail(reason) => return Delivery::Failed { reason, attempts: n },
                Attempt::Retry { why, after } => {
                    if n == self.max_attempts {
                        return Delivery::Failed { reason: format!("{why} (after {n} attempts)"), attempts: n };
                    }
                    let cap = self.initial_backoff_ms.saturating_mul(1 << (n - 1).min(20)).min(self.max_backoff_ms);
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    // full jitter, but never sooner than the receiver asked
                    let wait = Duration::from_millis(cap / 2 + rng % (cap / 2 + 1));
                    let wait = after.map_or(wait, |a| a.max(wait).min(Duration::from_millis(self.max_backoff_ms * 4)));
                    tracing::debug!(attempt = n, wait_ms = wait.as_millis() as u64, "retrying: {why}");
                    sleep(wait);
                }
            }
        }
        unreachable!("the loop returns on its last attempt")
    }
}

/// An HTTP client for hooks: no redirects, a global timeout, statuses as values.
pub fn agent(timeout_secs: u64) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(timeout_secs)))
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// POST `body`; classify the answer. `describe` words a 4xx body (e.g. the
/// RFC 8935 error JSON) without ever quoting secrets.
pub fn post(
    agent: &ureq::Agent,
    url: &str,
    content_type: &str,
    headers: &[(&str, String)],
    body: &[u8],
    describe: fn(&str) -> String,
) -> Attempt {
    let mut req = agent.post(url).header("content-type", content_type);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let mut resp = match req.send(body) {
        Ok(r) => r,
        Err(e) => return Attempt::Retry { why: format!("cannot reach the receiver: {e}"), after: None },
    };
    let code = resp.status().as_u16();
    let after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = resp.body_mut().with_config().limit(64 * 1024).read_to_string().unwrap_or_default();
    match code {
        200..=299 => Attempt::Ok,
        410 => Attempt::Gone,
        300..=399 => Attempt::Fail(format!("HTTP {code}: redirects are not followed")),
        408 | 425 | 429 | 500..=599 => Attempt::Retry { why: format!("HTTP {code}"), after },
        _ => Attempt::Fail(format!("HTTP {code}: {}", describe(&text))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_honour_retry_after_and_give_up() {
        let r = Retry { max_attempts: 4, initial_backoff_ms: 100, max_backoff_ms: 1000 };
        let mut waits = Vec::new();
        let mut n = 0;
        let out = r.run(
            "action-7",
            || {
                n += 1;
                match n {
                    1 => Attempt::Retry { why: "HTTP 503".into(), after: Some(Duration::from_secs(2)) },
                    2 => Attempt::Retry { why: "HTTP 503".into(), after: None },
                    _ => Attempt::Ok,
                }
            },
            &mut |d| waits.push(d),
        );
        assert_eq!(out, Delivery::Delivered { attempts: 3 });
        assert_eq!(waits[0], Duration::from_secs(2), "Retry-After wins over a shorter backoff");
        assert!(waits[1] >= Duration::from_millis(100) && waits[1] <= Duration::from_millis(200));
        let out = r.run("a", || Attempt::Retry { why: "down".into(), after: None }, &mut |_| {});
        assert!(matches!(out, Delivery::Failed { attempts: 4, .. }));
        assert_eq!(r.run("a", || Attempt::Gone, &mut |_| {}), Delivery::Gone);
        assert!(matches!(
            r.run("a", || Attempt::Fail("400".into()), &mut |_| {}),
            Delivery::Failed { attempts: 1, .. }
        ));
    }
}
