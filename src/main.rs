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
        Command::Gen(a) => app::run_gen(a),
        #[cfg(feature = "batch")]
        Command::Export(a) => app::run_export(a),
        #[cfg(feature = "batch")]
        Command::Investigate(a) => app::run_investigate(a),
        #[cfg(feature = "kafka")]
        Command::Stream(a) => app::run_stream(a),
        #[cfg(feature = "kafka")]
        Command::Respond(a) => app::run_respond(a),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::TestsFailed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("tokenhound: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing(filter: &str, json: bool) {
    let f =
        tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    use std::io::IsTerminal;
    let b = tracing_subscriber::fmt()
        .with_env_filter(f)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        b.json().init();
    } else {
        b.init();
    }
}
