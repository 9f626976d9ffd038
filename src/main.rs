//! The `newswatch` binary: parse the command line, set up logging, run, map errors to exit codes.

use clap::Parser;
use newswatch::cli::{self, Cli, LogFormat};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::{FormatFields, MakeWriter};

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
        // Escaped line by line: a configuration error lists its problems one per line.
        let message = format!("{:#}", failure.error);
        let lines: Vec<_> = message.split('\n').map(newswatch::text::printable).collect();
        eprintln!("error: {}", lines.join("\n"));
        std::process::exit(failure.code);
    }
}

/// Logs go to stderr: readable text by default, JSON with `--log-format json`. The level comes
/// from `NEWSWATCH_LOG` (e.g. `debug`, `newswatch=debug,reqwest=info`), default `info`. Field
/// values carry feed-derived text (titles, URLs, parse errors quoting markup), so both formats
/// apply `text::is_unsafe`, the one escaping rule: text logs show unsafe characters as `\u{1b}`
/// ([`EscapedFields`]); JSON logs write them as `\u001b` escapes ([`JsonSafeStderr`]).
fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("NEWSWATCH_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal: a log file or the journal gets plain text, and
    // the only escape sequences in it are the formatter's own.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(ansi)
            .fmt_fields(EscapedFields::default())
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(JsonSafeStderr)
            .with_ansi(false)
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// Text-log fields (the message included) formatted as usual, then passed through
/// `text::printable`: no field value can write a control, line-separator or bidi character.
#[derive(Default)]
struct EscapedFields(DefaultFields);

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> std::fmt::Result {
        let mut formatted = String::new();
        self.0.format_fields(Writer::new(&mut formatted), fields)?;
        writer.write_str(&newswatch::text::printable(&formatted))
    }
}

/// stderr for JSON logs: each event (one `write` of one whole line) goes through
/// `text::escape_json`, which serde_json's own escaping (C0 only) does not cover.
struct JsonSafeStderr;

impl<'a> MakeWriter<'a> for JsonSafeStderr {
    type Writer = JsonSafeWriter;
    fn make_writer(&'a self) -> Self::Writer {
        JsonSafeWriter(std::io::stderr())
    }
}

struct JsonSafeWriter(std::io::Stderr);

impl std::io::Write for JsonSafeWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(line) => self.0.write_all(newswatch::text::escape_json(line).as_bytes())?,
            // The formatter writes whole UTF-8 strings; anything else passes unchanged.
            Err(_) => self.0.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
