//! The command line (clap derive): replay, stream, export, rules check|test, gen.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::enrich::GeoSchema;
use crate::ingest::Profile;
use crate::output::Format;

#[derive(Parser, Debug)]
#[command(name = "tokenhound", version, about = "Detects stolen JSON Web Tokens in API-gateway access logs")]
pub struct Cli {
    /// Log filter (tracing syntax), e.g. `info`, `tokenhound=debug`.
    #[arg(long, global = true, env = "TOKENHOUND_LOG", default_value = "warn")]
    pub log: String,
    /// Log as JSON lines on stderr.
    #[arg(long, global = true)]
    pub log_json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Replay log files through the detection engine and print alerts.
    Replay(ReplayArgs),
    /// Validate or test rule files.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Generate a synthetic gateway log with planted thefts.
    Gen(GenArgs),
    /// Write enriched, normalized events to Parquet or CSV (feature `batch`).
    Export(ExportArgs),
    /// Forensics: timelines, blast radius, pivots and root cause of stolen tokens (report in DIR; feature `batch`).
    Investigate(InvestigateArgs),
    /// Run as a Kafka service: consume gateway logs, produce alerts and revocation requests (feature `kafka`).
    Stream(StreamArgs),
    /// Deliver revocation requests (the outbox topic) to the configured hooks (feature `kafka`).
    Respond(RespondArgs),
    /// Read the internal events topic (feature `kafka`).
    Events(EventsArgs),
}

/// Settings shared by every command that builds the pipeline.
#[derive(Args, Debug, Default, Clone)]
pub struct Common {
    /// TOML settings file (TOKENHOUND_* variables override it).
    #[arg(long, env = "TOKENHOUND_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory of rule files that replaces the built-in rules.
    #[arg(long, value_name = "DIR")]
    pub rules: Option<PathBuf>,
    /// Directory of rule files added to the rules in force (repeatable); a
    /// rule whose id is loaded already replaces it.
    #[arg(long, value_name = "DIR")]
    pub extra_rules: Vec<PathBuf>,
    /// GeoIP2/GeoLite2/DB-IP city database (mmdb); repeat for DB-IP's IPv4 and IPv6 files.
    #[arg(long)]
    pub geo_city: Vec<PathBuf>,
    /// GeoIP2/GeoLite2 ASN database (mmdb).
    #[arg(long)]
    pub geo_asn: Option<PathBuf>,
    /// Schema of the city database.
    #[arg(long, value_enum)]
    pub geo_schema: Option<GeoSchema>,
}

/// How gateway records become events: what both drivers take.
#[derive(Args, Debug, Default, Clone)]
pub struct PipelineArgs {
    #[command(flatten)]
    pub common: Common,
    /// Gateway log format.
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
    /// JWKS file or URL (http/https, fetched at start) to verify raw tokens against.
    #[arg(long)]
    pub jwks: Option<PathBuf>,
    /// PEM public key(s) to verify raw tokens against: `PATH` (a key for any
    /// kid) or `KID=PATH` (the key published under that kid). Repeatable.
    #[arg(long, value_name = "[KID=]PATH")]
    pub pem: Vec<String>,
    /// Proxy CIDR whose X-Forwarded-For is believed (repeatable).
    #[arg(long = "trusted-proxy")]
    pub trusted_proxies: Vec<String>,
}

/// What every command that reads gateway log files takes.
#[derive(Args, Debug)]
pub struct InputArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Count bad lines and go on instead of stopping at the first.
    #[arg(long)]
    pub skip_errors: bool,
    /// Files, directories, .gz/.zst, or - for stdin.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// NDJSON revocations: {"iss","jti","revoked_at"} or {"iss","sub","revoked_before"}.
    #[arg(long)]
    pub revocations: Option<PathBuf>,
    /// Alert format: OCSF (default), ECS, or a table for people.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write alerts here instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Write revocation requests (NDJSON) for findings whose rule asks to revoke.
    #[arg(long)]
    pub revocation_requests: Option<PathBuf>,
    /// Worker threads (default: all cores).
    /// Subject baselines to start from and to save back at the end (created
    /// when missing): a replay of last week starts from the week before.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    #[arg(long)]
    pub threads: Option<usize>,
    /// Deliver the revocation requests (and alerts, to a webhook that takes them) to the `[respond]` hooks.
    #[arg(long)]
    pub respond: bool,
    /// With --respond: write what was done or would be done (NDJSON) here.
    #[arg(long, requires = "respond")]
    pub respond_audit: Option<PathBuf>,
    /// With --respond: dry-run or enforce (overrides `[respond] mode`).
    #[arg(long, value_enum, requires = "respond")]
    pub respond_mode: Option<crate::settings::Mode>,
}

/// Write enriched, normalized events to Parquet (feature `batch`).
#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The Parquet file to write.
    #[arg(long, required_unless_present = "csv")]
    pub parquet: Option<PathBuf>,
    /// Also (or instead) write the events as CSV (time in RFC 3339).
    #[arg(long)]
    pub csv: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RespondArgs {
    #[command(flatten)]
    pub common: Common,
    /// Bootstrap brokers (host:port,...).
    #[arg(long)]
    pub brokers: Option<String>,
    /// Consumer group prefix (the responder joins `<group>.respond`).
    #[arg(long)]
    pub group: Option<String>,
    /// Address for /metrics, /livez, /readyz, /jwks.json, /.well-known/ssf-configuration.
    #[arg(long)]
    pub listen: Option<String>,
    /// dry-run (record what would be revoked) or enforce.
    #[arg(long, value_enum)]
    pub mode: Option<crate::settings::Mode>,
    /// Without one: run the responder service.
    #[command(subcommand)]
    pub action: Option<RespondAction>,
}

/// Decisions on the requests the revocation budget parked.
#[derive(clap::Subcommand, Debug)]
pub enum RespondAction {
    /// The parked requests (ID, rule, scope, what, reason) and the decisions taken.
    ListParked,
    /// Send parked requests back to be delivered (not budgeted), audited.
    Approve(Decision),
    /// Drop parked requests, audited.
    Reject(Decision),
}

#[derive(Args, Debug)]
pub struct Decision {
    /// IDs from `respond list-parked`.
    #[arg(required = true)]
    pub ids: Vec<String>,
    /// Who decides (recorded).
    #[arg(long)]
    pub by: String,
    /// Why (recorded).
    #[arg(long)]
    pub reason: String,
}

pub use crate::settings::Stage;

#[derive(Args, Debug)]
pub struct StreamArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[arg(long, value_enum, default_value = "all")]
    pub stage: Stage,
    /// Input topics are already keyed by token: detect reads them directly.
    #[arg(long)]
    pub input_keyed: bool,
    /// Bootstrap brokers (host:port,...).
    #[arg(long)]
    pub brokers: Option<String>,
    /// Consumer group prefix.
    #[arg(long)]
    pub group: Option<String>,
    /// Input topic, `TOPIC` or `TOPIC:PROFILE` (repeatable).
    #[arg(long = "input", value_parser = crate::settings::parse_input)]
    pub inputs: Vec<crate::settings::InputTopic>,
    /// Address for /metrics, /livez, /readyz.
    #[arg(long)]
    pub listen: Option<String>,
}

/// `tokenhound investigate`.
#[derive(Args, Debug)]
pub struct InvestigateArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Directory for the report (report.html, report.md, report.json, events.parquet).
    #[arg(long)]
    pub out: PathBuf,
    /// Take the findings from this alerts file (OCSF NDJSON of replay/stream) instead of detecting.
    #[arg(long)]
    pub alerts: Option<PathBuf>,
    /// NDJSON revocations (as for replay).
    #[arg(long)]
    pub revocations: Option<PathBuf>,
    /// Pivot window around the attackers' requests (infrastructure is often
    /// reused for a day); default `[investigate] window` (24h).
    #[arg(long)]
    pub pivot_window: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Parse and validate every rule file; report all errors.
    Check(Common),
    /// Run every rule's inline must-fire / must-not-fire tests.
    Test(Common),
    /// List the rules in force and where each was loaded from.
    List(Common),
}

pub use crate::gen::GenArgs;

#[derive(Args, Debug)]
pub struct EventsArgs {
    #[command(flatten)]
    pub common: Common,
    /// Bootstrap brokers (host:port,...).
    #[arg(long)]
    pub brokers: Option<String>,
    /// Consumer group prefix (the reader names itself `<group>.dump`, commits nothing).
    #[arg(long)]
    pub group: Option<String>,
    #[command(subcommand)]
    pub action: EventsAction,
}

#[derive(clap::Subcommand, Debug)]
pub enum EventsAction {
    /// Print the events topic (binary or JSON records) as NDJSON: partition,
    /// offset, key and the event as JSON, or why a record cannot be read.
    Dump {
        /// The topic (default: `[stream] events_topic`).
        #[arg(long)]
        topic: Option<String>,
        /// Only this partition.
        #[arg(long)]
        partition: Option<i32>,
        /// Start at this offset in each partition (default: its start).
        #[arg(long)]
        offset: Option<i64>,
        /// Stop after this many lines (events, watermark records, unreadable records).
        #[arg(long)]
        max: Option<u64>,
    },
}
