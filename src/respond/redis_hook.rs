//! The Redis deny-list hook. A gateway plugin or ext_authz service denies a
//! request when one of these keys exists / applies (every `<part>` is
//! percent-encoded: each byte outside `A-Z a-z 0-9 - . _ ~` as `%XX`, so a
//! part never holds a `:` and no identity can write another's key):
//! - `<prefix>:<iss>:<jti>` = finding uid, expiring with the token
//!   (`EX exp - now + skew`; an already-expired token gets no entry);
//! - `<prefix>:sub:<iss>:<sub>` = "revoked before" cutoff (epoch seconds):
//!   tokens of the subject with `iat` below it are revoked. The cutoff only
//!   moves forward (a Lua script keeps the latest) and lives `subject_ttl`;
//! - `<prefix>:fp:sha256:<base64url SHA-256 of the token>` = finding uid: one
//!   token whose claims cannot be believed (a forgery), by its own bytes;
//! - `<prefix>:risk:<iss>:<sub>` = `LOW` / `MEDIUM` / `HIGH`, the subject's
//!   latest risk level (the step-up signal: an IdP or gateway demands MFA at
//!   the next sign-in of a HIGH subject), living `risk_ttl` (24h).

use super::http::{Attempt, Retry};
use super::request::{Request, Scope};
use super::{ActionResult, Hook, Outcome, RespondError};
use crate::model::key_part;
use crate::settings::Redis;

/// The deny-list key of a token (`iss`, `jti`), parts percent-encoded.
pub fn token_key(prefix: &str, iss: &str, jti: &str) -> String {
    format!("{prefix}:{}:{}", key_part(iss), key_part(jti))
}

/// The "revoked before" key of a subject, parts percent-encoded.
pub fn subject_key(prefix: &str, iss: &str, sub: &str) -> String {
    format!("{prefix}:sub:{}:{}", key_part(iss), key_part(sub))
}

/// The risk-level key of a subject, parts percent-encoded.
pub fn risk_key(prefix: &str, iss: &str, sub: &str) -> String {
    format!("{prefix}:risk:{}:{}", key_part(iss), key_part(sub))
}

/// The deny-list key of one token by its hash.
pub fn fingerprint_key(prefix: &str, sha256: &str) -> String {
    format!("{prefix}:fp:sha256:{}", key_part(sha256))
}

const KEEP_LATEST: &str = r"
local cur = redis.call('GET', KEYS[1])
if (not cur) or tonumber(cur) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return 1";

pub struct RedisHook {
    cfg: Redis,
    client: redis::Client,
    conn: Option<redis::Connection>,
}

impl RedisHook {
    pub fn new(cfg: Redis) -> Result<Self, RespondError> {
        // the URL may hold a password: never quote it
        let client = redis::Client::open(cfg.url.expose())
            .map_err(|_| RespondError::Setup("respond.redis.url is not a redis:// URL".into()))?;
        Ok(RedisHook { cfg, client, conn: None })
    }

    fn run(&mut self, cmd: &redis::Cmd) -> Attempt {
        if self.conn.is_none() {
            match self.client.get_connection_with_timeout(std::time::Duration::from_secs(5)) {
                Ok(c) => self.conn = Some(c),
                Err(e) => {
                    return Attempt::Retry { why: format!("cannot connect to Redis: {}", e.kind_str()), after: None }
                }
            }
        }
        let conn = self.conn.as_mut().expect("connected");
        match cmd.query::<redis::Value>(conn) {
            Ok(_) => Attempt::Ok,
            Err(e) if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() => {
                self.conn = None;
                Attempt::Retry { why: format!("Redis: {}", e.kind_str()), after: None }
            }
            Err(e) => Attempt::Fail(format!("Redis refused the command: {}", e.kind_str())),
        }
    }
}

trait KindStr {
    fn kind_str(&self) -> String;
}

impl KindStr for redis::RedisError {
    fn kind_str(&self) -> String {
        format!("{:?}", self.kind())
    }
}

impl Hook for RedisHook {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn revoke(
        &mut self,
        r: &Request,
        now_secs: i64,
        retry: &Retry,
        sleep: &mut dyn FnMut(std::time::Duration),
    ) -> Vec<ActionResult> {
        let id = r.action_id("redis");
        let subject = matches!(r.scope, Scope::Subject { .. } | Scope::Risk { .. });
        let ttl = match r.exp.filter(|_| !matches!(r.scope, Scope::Risk { .. })) {
            // a subject's cutoff outlives this one token
            Some(exp) if exp <= now_secs && !subject => {
                return vec![ActionResult::new(
                    "redis",
                    "deny-token",
                    id,
                    Outcome::Skipped("token already expired".into()),
                )]
            }
            Some(exp) => exp - now_secs + self.cfg.skew_secs,
            None => self.cfg.subject_ttl_secs,
        };
        let prefix = &self.cfg.prefix;
        let (cmd, what) = match &r.scope {
            Scope::Token { iss, jti } => {
                let mut c = redis::cmd("SET");
                c.arg(token_key(prefix, iss, jti)).arg(&r.finding_uid).arg("EX").arg(ttl);
                (c, "deny-token")
            }
            Scope::Fingerprint { sha256 } => {
                let mut c = redis::cmd("SET");
                c.arg(fingerprint_key(prefix, sha256)).arg(&r.finding_uid).arg("EX").arg(ttl);
                (c, "deny-fingerprint")
            }
            Scope::Subject { iss, sub, before } => {
                let mut c = redis::cmd("EVAL");
                c.arg(KEEP_LATEST)
                    .arg(1)
                    .arg(subject_key(prefix, iss, sub))
                    .arg(*before)
                    .arg(self.cfg.subject_ttl_secs);
                (c, "revoked-before")
            }
            Scope::Risk { iss, sub, level, .. } => {
                let mut c = redis::cmd("SET");
                c.arg(risk_key(prefix, iss, sub)).arg(level).arg("EX").arg(self.cfg.risk_ttl_secs);
                (c, "risk-level")
            }
        };
        let d = retry.run(&id, || self.run(&cmd), sleep);
        vec![ActionResult::new("redis", what, id, Outcome::from(d))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_be_aimed_at_another_identity() {
        // iss "https" + sub "//idp.acme.example:svc-backup" was once the key
        // of iss "https://idp.acme.example" + sub "svc-backup"
        let aimed = subject_key("th", "https", "//idp.acme.example:svc-backup");
        let real = subject_key("th", "https://idp.acme.example", "svc-backup");
        assert_ne!(aimed, real);
        assert_eq!(real, "th:sub:https%3A%2F%2Fidp.acme.example:svc-backup");
        // a jti cannot reach a subject key, nor a fingerprint key
        assert_ne!(token_key("th", "sub", "https%3A:x"), subject_key("th", "https:", "x"));
        assert_ne!(token_key("th", "fp", "sha256:abc"), fingerprint_key("th", "abc"));
        for k in [aimed, real, token_key("th", "a:b", "c"), fingerprint_key("th", "abc")] {
            assert!(k.split(':').all(|p| !p.is_empty()), "{k}");
        }
    }
}
