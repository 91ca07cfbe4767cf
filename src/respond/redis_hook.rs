//! The Redis deny-list hook. A gateway plugin or ext_authz service denies a
//! request when either key exists / applies:
//! - `<prefix>:<iss>:<jti>` = finding uid, expiring with the token
//!   (`EX exp - now + skew`; an already-expired token gets no entry);
//! - `<prefix>:sub:<iss>:<sub>` = "revoked before" cutoff (epoch seconds):
//!   tokens of the subject with `iat` below it are revoked. The cutoff only
//!   moves forward (a Lua script keeps the latest) and lives `subject_ttl`.

use super::http::{Attempt, Retry};
use super::request::{Request, Scope};
use super::{ActionResult, Hook, Outcome};
use crate::settings::Redis;

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
    pub fn new(cfg: Redis) -> Result<Self, String> {
        // the URL may hold a password: never quote it
        let client =
            redis::Client::open(cfg.url.as_str()).map_err(|_| "respond.redis.url is not a redis:// URL".to_string())?;
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
        let (cmd, what) = match &r.scope {
            Scope::Token { iss, jti } => {
                let ttl = match r.exp {
                    Some(exp) if exp <= now_secs => {
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
                let mut c = redis::cmd("SET");
                c.arg(format!("{}:{iss}:{jti}", self.cfg.prefix)).arg(&r.finding_uid).arg("EX").arg(ttl);
                (c, "deny-token")
            }
            Scope::Subject { iss, sub, before } => {
                let mut c = redis::cmd("EVAL");
                c.arg(KEEP_LATEST)
                    .arg(1)
                    .arg(format!("{}:sub:{iss}:{sub}", self.cfg.prefix))
                    .arg(*before)
                    .arg(self.cfg.subject_ttl_secs);
                (c, "revoked-before")
            }
        };
        let d = retry.run(&id, || self.run(&cmd), sleep);
        vec![ActionResult::new("redis", what, id, Outcome::from(d))]
    }
}
