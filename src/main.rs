//! tokenhound's entry point: parse the CLI, set up logging, run the command,
//! map the result to an exit code (0 ok, 1 rule tests failed, 2 error).

use std::process::ExitCode;

use clap::Parser;
use tokenhound::app::{self, Outcome};
use tokenhound::cli::{Cli, Command, RulesCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.log, cli.log_json);
    let result = match cli.command {
        Command::Replay(a) => app::run_replay(a),
        Command::Rules(RulesCommand::Check(c)) => app::run_rules_check(&c),
        Command::Rules(RulesCommand::Test(c)) => app::run_rules_test(&c),
        Command::Rules(RulesCommand::List(c)) => app::run_rules_list(&c),
        Command::Gen(a) => app::run_gen(a),
        #[cfg(feature = "batch")]
        Command::Export(a) => app::run_export(a),
        #[cfg(feature = "batch")]
        Command::Investigate(a) => app::run_investigate(a),
        #[cfg(feature = "kafka")]
        Command::Stream(a) => app::run_stream(a),
        #[cfg(feature = "kafka")]
        Command::Respond(a) => app::run_respond(a),
        #[cfg(feature = "kafka")]
        Command::Events(a) => app::run_events(a),
        #[cfg(not(feature = "batch"))]
        Command::Export(_) => Err(app::not_built("export", "batch")),
        #[cfg(not(feature = "batch"))]
        Command::Investigate(_) => Err(app::not_built("investigate", "batch")),
        #[cfg(not(feature = "kafka"))]
        Command::Stream(_) => Err(app::not_built("stream", "kafka")),
        #[cfg(not(feature = "kafka"))]
        Command::Respond(_) => Err(app::not_built("respond", "kafka")),
        #[cfg(not(feature = "kafka"))]
        Command::Events(_) => Err(app::not_built("events", "kafka")),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::TestsFailed) => ExitCode::from(1),
        Err(e) => {
            // an error may quote input: never let it drive the terminal
            eprintln!("tokenhound: error: {}", tokenhound::output::escape_controls(&format!("{e:#}")));
            ExitCode::from(2)
        }
    }
}

fn init_tracing(filter: &str, json: bool) {
    // HTTP clients log request URLs (query included) at debug and trace: a
    // JWKS or hook URL may carry credentials, so they never log below info
    let filter = format!("{filter},ureq=info,ureq_proto=info,rustls=info");
    let f =
        tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let b = tracing_subscriber::fmt().with_env_filter(f).with_writer(|| SafeStderr).with_ansi(false);
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

/// Log lines to stderr with every control character but the line's own end
/// escaped (`\x1b`, `\r`, an embedded `\n`): a user agent or a forged
/// claim in a message cannot clear the screen or forge a log line.
struct SafeStderr;

impl std::io::Write for SafeStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (body, end) = match buf.split_last() {
            Some((b'\n', body)) => (body, &b"\n"[..]),
            _ => (buf, &b""[..]),
        };
        let text = String::from_utf8_lossy(body);
        let safe = tokenhound::output::escape_controls(&text);
        let mut err = std::io::stderr().lock();
        err.write_all(safe.as_bytes())?;
        err.write_all(end)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
