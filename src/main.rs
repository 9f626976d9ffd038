//! The `newswatch` binary: parse the command line, set up logging, run, map errors to exit codes.

use clap::Parser;
use newswatch::cli::{self, Cli, LogFormat};
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            std::process::exit(cli::EXIT_FAILURE);
        }
    };
    let result = runtime.block_on(cli::run(cli));
    // Blocking work abandoned at shutdown must not hold the process: give it a moment, then exit
    // without it. (CPU jobs run on the CPU pool's own threads, which never hold the exit.)
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    if let Err(failure) = result {
        // `newswatch alerts | head` closing the pipe early is not an error.
        let broken_pipe = failure.error.chain().any(|cause| {
            cause
                .downcast_ref::<std::io::Error>()
                .is_some_and(|err| err.kind() == std::io::ErrorKind::BrokenPipe)
        });
        if broken_pipe {
            std::process::exit(0);
        }
        // The whole chain on one line, as ripgrep prints it.
        eprintln!("error: {:#}", failure.error);
        std::process::exit(failure.code);
    }
}

/// Logs go to stderr: readable text by default, JSON with `--log-format json`. The level comes
/// from `NEWSWATCH_LOG` (e.g. `debug`, `newswatch=debug,reqwest=info`), default `info`.
fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("NEWSWATCH_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal: a log file or the journal gets plain text, and
    // the only escape sequences in it are the ones we escaped.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).init(),
    }
}
