//! The command line: `run`, `check-config`, `alerts`, `feeds list` and the tools around them.

use crate::alert;
use crate::config::{Config, ConfigError};
use crate::fetch::Fetcher;
use crate::pipeline;
use crate::store::Store;
use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// newswatch: watches news feeds and writes an alert line for every new story on your topics.
#[derive(Debug, Parser)]
#[command(
    name = "newswatch",
    version,
    after_help = "Examples:\n  newswatch run                     # the daemon, with config/newswatch.toml (or the embedded default)\n  newswatch run --once              # poll every feed once, deliver alerts, exit (cron, tests)\n  newswatch check-config --config my.toml\n  newswatch alerts --since 24h\n  newswatch feeds list"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// The configuration file [default: config/newswatch.toml if present, else the embedded default]
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: poll every feed on its schedule until SIGINT/SIGTERM.
    #[command(
        after_help = "Examples:\n  newswatch run\n  newswatch run --config /etc/newswatch/newswatch.toml\n  newswatch run --once          # one round, then exit 0 (non-zero only for bad config or state dir)"
    )]
    Run {
        #[command(flatten)]
        config: ConfigArg,
        /// Poll every feed once, process every new item, deliver the alerts, and exit.
        #[arg(long)]
        once: bool,
    },
    /// Validate the configuration and print a summary, or every problem found.
    #[command(after_help = "Example:\n  newswatch check-config --config config/newswatch.toml")]
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Read the alert log: a table by default, the raw JSON lines with --json; newest last.
    #[command(
        after_help = "Examples:\n  newswatch alerts --since 24h\n  newswatch alerts --topic us-russia-talks --json | jq .title"
    )]
    Alerts {
        #[command(flatten)]
        config: ConfigArg,
        /// Only alerts detected within this long (e.g. 90m, 24h, 7d).
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
        /// Only alerts of this topic.
        #[arg(long, value_name = "ID")]
        topic: Option<String>,
        /// Print the raw JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Configured feeds and their state.
    Feeds {
        #[command(subcommand)]
        command: FeedsCommand,
    },
    /// Measure a topic on labelled items: per file and pooled, each with its two halves.
    #[command(
        after_help = "Items are JSON Lines {\"id\", \"title\", \"text\", \"label\"}; each is classified\nexactly as the daemon classifies an article (title + text). Prints a table per file and\npooled (halves: first hex digit of sha256(id) even / odd), then the pooled confusion counts,\nprecision, recall and F1 last.\n\nExample:\n  newswatch eval --topic us-russia-talks dev.jsonl dev2.jsonl --errors"
    )]
    Eval {
        #[command(flatten)]
        config: ConfigArg,
        /// The topic id.
        #[arg(long, value_name = "ID")]
        topic: String,
        /// List the misclassified items with their explanation first.
        #[arg(long)]
        errors: bool,
        /// The labelled items (one or more files).
        #[arg(value_name = "FILE.jsonl", required = true)]
        files: Vec<PathBuf>,
    },
    /// Show how a topic scores a text: the score, the verdict, each matched clause and its spans.
    #[command(
        group(clap::ArgGroup::new("input").required(true).args(["text", "file", "url"])),
        after_help = "Examples:\n  newswatch explain --topic us-russia-talks --text \"Lavrov and Rubio met in Riyadh\"\n  newswatch explain --topic us-russia-talks --file article.html\n  newswatch explain --topic us-russia-talks --url https://example.org/news/1"
    )]
    Explain {
        #[command(flatten)]
        config: ConfigArg,
        /// The topic id.
        #[arg(long, value_name = "ID")]
        topic: String,
        /// The text to classify (its first line is taken as the title).
        #[arg(long, value_name = "STRING")]
        text: Option<String>,
        /// A text file, or an .html/.htm page whose article is extracted first.
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
        /// A page to fetch (through the same guard as the daemon) and extract.
        #[arg(long, value_name = "URL")]
        url: Option<url::Url>,
    },
    /// Extract the article from saved pages: one JSON object per file per line.
    #[command(
        after_help = "Prints {\"path\", \"title\", \"text\", \"authors\", \"published\", \"lang\", \"canonical_url\", \"method\"}.\nExits non-zero only if a file cannot be read.\n\nExample:\n  newswatch extract --url https://example.org/a/1 page.html.gz"
    )]
    Extract {
        /// The page's address, to resolve relative links and judge the canonical URL.
        #[arg(long, value_name = "URL")]
        url: Option<url::Url>,
        /// The charset the server declared (as an HTTP Content-Type charset would).
        #[arg(long, value_name = "NAME")]
        charset: Option<String>,
        /// .html or .html.gz files, or - for stdin.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
    },
    /// Parse feed files as the daemon would: format, encoding, items, repairs, or the error.
    #[command(
        after_help = "With --json: one {\"path\", \"ok\", \"format\", \"encoding\", \"items\", \"repairs\", \"error\"} per line.\nExits 0 even when some files fail to parse; only unreadable paths are errors.\n\nExample:\n  newswatch parse --json feeds/*.xml"
    )]
    Parse {
        /// One JSON object per file per line.
        #[arg(long)]
        json: bool,
        /// The charset the server declared (as an HTTP Content-Type charset would).
        #[arg(long, value_name = "NAME")]
        charset: Option<String>,
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum FeedsCommand {
    /// The configured feeds with their last status: last fetch, last error, items seen, next poll.
    #[command(after_help = "Example:\n  newswatch feeds list")]
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
}

/// Exit code for bad configuration.
pub const EXIT_CONFIG: i32 = 2;
/// Exit code for everything else that failed.
pub const EXIT_FAILURE: i32 = 1;

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub error: anyhow::Error,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        let code = if error.downcast_ref::<ConfigError>().is_some() { EXIT_CONFIG } else { EXIT_FAILURE };
        Failure { code, error }
    }
}

fn load_config(arg: &ConfigArg) -> anyhow::Result<Config> {
    let mut config = Config::load(arg.config.as_deref())?;
    config.source = match &arg.config {
        Some(path) => path.display().to_string(),
        None if Path::new(crate::config::DEFAULT_CONFIG_PATH).exists() => {
            crate::config::DEFAULT_CONFIG_PATH.to_string()
        }
        None => crate::config::EMBEDDED_CONFIG_NAME.to_string(),
    };
    Ok(config)
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Run { config, once } => run_daemon(&config, once).await,
        Command::CheckConfig { config } => check_config(&config),
        Command::Alerts { config, since, topic, json } => {
            show_alerts(&config, since.as_deref(), topic.as_deref(), json)
        }
        Command::Feeds { command: FeedsCommand::List { config } } => list_feeds(&config),
        Command::Eval { config, topic, errors, files } => eval(&config, &topic, errors, &files),
        Command::Explain { config, topic, text, file, url } => {
            explain(&config, &topic, text.as_deref(), file.as_deref(), url.as_ref()).await
        }
        Command::Extract { url, charset, files } => {
            let mut out = std::io::stdout().lock();
            let all_read = crate::extract::extract_files(&files, url.as_ref(), charset.as_deref(), &mut out)?;
            if all_read { Ok(()) } else { Err(anyhow::anyhow!("some files could not be read")) }
        }
        Command::Parse { json, charset, files } => {
            let mut out = std::io::stdout().lock();
            let all_read = crate::feed::parse_files(&files, json, charset.as_deref(), &mut out)?;
            if all_read { Ok(()) } else { Err(anyhow::anyhow!("some files could not be read")) }
        }
    }
    .map_err(Failure::from)
}

async fn run_daemon(arg: &ConfigArg, once: bool) -> anyhow::Result<()> {
    let mut config = load_config(arg)?;
    let store = Store::open(&config.daemon.state_dir)?;
    let stop = CancellationToken::new();
    tokio::spawn(cancel_on_signal(stop.clone()));
    let mut hangups = Hangups::new(!once);
    loop {
        let fetcher = Fetcher::new(&config.daemon).context("cannot build the HTTP client")?;
        tracing::info!(
            config = %config.source,
            state_dir = %config.daemon.state_dir.display(),
            feeds = config.feeds.len(),
            topics = config.topics.len(),
            alert_log = %config.alert_log().map(|path| path.display().to_string()).unwrap_or_default(),
            once,
            "starting"
        );
        // A reload stops this round like a shutdown would (in-flight items drain), then the
        // next round starts on the same store with the new configuration.
        let round = stop.child_token();
        let mut pipeline = tokio::spawn({
            let (config, store, round) = (config.clone(), store.clone(), round.clone());
            async move { pipeline::run(&config, store, fetcher, round, once).await }
        });
        let new_config = loop {
            tokio::select! {
                finished = &mut pipeline => {
                    finished.context("the pipeline crashed")?;
                    return Ok(());
                }
                () = hangups.next() => match load_config(arg) {
                    Err(err) => tracing::error!(error = %format!("{err:#}"), "reload refused; the running configuration stays"),
                    Ok(new) if new.daemon.state_dir != config.daemon.state_dir => tracing::error!(
                        state_dir = %new.daemon.state_dir.display(),
                        "reload refused: state_dir cannot change while running; restart instead"
                    ),
                    Ok(new) => break new,
                },
            }
        };
        tracing::info!("reloading the configuration (SIGHUP)");
        round.cancel();
        pipeline.await.context("the pipeline crashed")?;
        config = new_config;
    }
}

/// SIGHUP, the conventional "reload your configuration" (`systemctl reload`). Never fires with
/// `--once` or off Unix.
struct Hangups {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangups {
    fn new(enabled: bool) -> Hangups {
        #[cfg(unix)]
        {
            let signal = enabled
                .then(|| tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok())
                .flatten();
            Hangups { signal }
        }
        #[cfg(not(unix))]
        {
            let _ = enabled;
            Hangups {}
        }
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.signal {
            if signal.recv().await.is_some() {
                return;
            }
            self.signal = None; // the signal stream ended: no more reloads
        }
        std::future::pending::<()>().await
    }
}

/// Cancels `token` on SIGINT or SIGTERM.
async fn cancel_on_signal(token: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested; finishing in-flight items");
    token.cancel();
}

fn check_config(arg: &ConfigArg) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}: ok", config.source)?;
    writeln!(out, "state_dir: {}", config.daemon.state_dir.display())?;
    writeln!(out, "feeds: {}", config.feeds.len())?;
    for feed in &config.feeds {
        writeln!(
            out,
            "  {:<20} every {:<6} scrape={:<5} {}",
            feed.name,
            humantime::format_duration(feed.interval).to_string(),
            feed.scrape,
            feed.url
        )?;
    }
    writeln!(
        out,
        "topics: {}",
        config.topics.iter().map(|topic| topic.id.as_str()).collect::<Vec<_>>().join(", ")
    )?;
    writeln!(out, "sinks: {}", config.sinks.iter().map(|sink| sink.name()).collect::<Vec<_>>().join(", "))?;
    Ok(())
}

fn show_alerts(arg: &ConfigArg, since: Option<&str>, topic: Option<&str>, json: bool) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let since = since
        .map(|text| {
            crate::config::parse_duration(text).map_err(|reason| anyhow::anyhow!("--since: {reason}"))
        })
        .transpose()?;
    let Some(path) = config.alert_log() else {
        anyhow::bail!("{} configures no jsonl sink to read", config.source);
    };
    let cutoff =
        since.map(|since| Utc::now() - chrono::Duration::from_std(since).unwrap_or(chrono::Duration::MAX));
    let alerts =
        alert::read_log(path).with_context(|| format!("cannot read alert log {}", path.display()))?;
    let shown: Vec<&alert::Alert> = alerts
        .iter()
        .filter(|alert| topic.is_none_or(|topic| alert.topic == topic))
        .filter(|alert| match cutoff {
            None => true,
            Some(cutoff) => DateTime::parse_from_rfc3339(&alert.detected_at).is_ok_and(|at| at >= cutoff),
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if json {
        for alert in shown {
            writeln!(out, "{}", alert::to_json_line(alert)?)?;
        }
        return Ok(());
    }
    if shown.is_empty() {
        writeln!(out, "no alerts in {}", path.display())?;
        return Ok(());
    }
    writeln!(out, "{:<20}  {:<16}  {:>5}  {:<16}  TITLE", "DETECTED", "TOPIC", "SCORE", "FEED")?;
    for alert in shown {
        let detected = alert.detected_at.replace('T', " ").trim_end_matches('Z').to_string();
        writeln!(
            out,
            "{:<20}  {:<16}  {:>5.2}  {:<16}  {}",
            detected,
            crate::text::truncate_chars(&alert.topic, 16),
            alert.score,
            crate::text::truncate_chars(&alert.feed, 16),
            crate::text::printable(&crate::text::truncate_chars(&alert.title, 90)),
        )?;
        if let Some(url) = &alert.url {
            writeln!(out, "{:<20}  {}", "", crate::text::printable(url))?;
        }
    }
    Ok(())
}

fn list_feeds(arg: &ConfigArg) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let store = Store::open_read_only(&config.daemon.state_dir)?;
    let states = match &store {
        Some(store) => store.feed_states()?,
        None => Vec::new(),
    };
    let now = Utc::now().timestamp();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<20}  {:<10}  {:<12}  {:>6}  {:<12}  URL / LAST ERROR",
        "FEED", "STATUS", "LAST FETCH", "ITEMS", "NEXT POLL"
    )?;
    for feed in &config.feeds {
        let state = states.iter().find(|state| state.name == feed.name);
        let status = match state {
            None => "never".to_string(),
            Some(state) if state.consecutive_failures > 0 => format!("error x{}", state.consecutive_failures),
            Some(state) => state.last_status.clone().unwrap_or_else(|| "never".into()),
        };
        let ago = |at: Option<i64>| match at {
            None => "-".to_string(),
            Some(at) if at <= now => format!(
                "{} ago",
                humantime::format_duration(std::time::Duration::from_secs((now - at) as u64))
            ),
            Some(at) => format!(
                "in {}",
                humantime::format_duration(std::time::Duration::from_secs((at - now) as u64))
            ),
        };
        writeln!(
            out,
            "{:<20}  {:<10}  {:<12}  {:>6}  {:<12}  {}",
            feed.name,
            status,
            ago(state.and_then(|state| state.last_fetch_at)),
            state.map_or(0, |state| state.items_seen),
            ago(state.and_then(|state| state.next_poll_at)),
            feed.url
        )?;
        if let Some(error) = state.and_then(|state| state.last_error.as_ref()) {
            writeln!(
                out,
                "{:<20}  last error: {}",
                "",
                crate::text::printable(&crate::text::truncate_chars(error, 160))
            )?;
        }
    }
    if store.is_none() {
        writeln!(out, "(no state yet in {}: run the daemon first)", config.daemon.state_dir.display())?;
    }
    Ok(())
}

fn find_topic<'a>(config: &'a Config, id: &str) -> anyhow::Result<&'a crate::classify::Topic> {
    config.topics.iter().find(|topic| topic.id == id).ok_or_else(|| {
        let known: Vec<&str> = config.topics.iter().map(|topic| topic.id.as_str()).collect();
        anyhow::anyhow!("{}: no topic {id:?} (configured: {})", config.source, known.join(", "))
    })
}

fn eval(arg: &ConfigArg, topic: &str, errors: bool, files: &[PathBuf]) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let topic = find_topic(&config, topic)?;
    let mut out = std::io::stdout().lock();
    crate::classify::eval_files(topic, files, errors, &mut out)?;
    Ok(())
}

async fn explain(
    arg: &ConfigArg,
    topic: &str,
    text: Option<&str>,
    file: Option<&Path>,
    url: Option<&url::Url>,
) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    let config = load_config(arg)?;
    let topic = find_topic(&config, topic)?;
    let (title, body) = if let Some(text) = text {
        split_title(text)
    } else if let Some(path) = file {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let is_html = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("html") || ext.eq_ignore_ascii_case("htm"));
        if is_html {
            let page = crate::extract::article(&bytes, None, None)
                .with_context(|| format!("{}: no article text", path.display()))?;
            (page.title.unwrap_or_default(), page.text)
        } else {
            split_title(&String::from_utf8_lossy(&bytes))
        }
    } else if let Some(url) = url {
        let fetcher = Fetcher::new(&config.daemon).context("cannot build the HTTP client")?;
        let body = match fetcher.get(crate::fetch::Target::Page, url, &Default::default()).await? {
            crate::fetch::Fetched::Body(body) => body,
            crate::fetch::Fetched::NotModified => anyhow::bail!("{url} answered 304"),
        };
        let page = crate::extract::article(&body.bytes, Some(&body.final_url), body.charset.as_deref())
            .with_context(|| format!("{url}: no article text"))?;
        (page.title.unwrap_or_default(), page.text)
    } else {
        unreachable!("clap requires one of --text, --file, --url")
    };
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut out = std::io::stdout().lock();
    crate::classify::explain(
        topic,
        &crate::classify::Document { title: &title, body: &body },
        color,
        &mut out,
    )?;
    Ok(())
}

/// The first line of a text is its title, the rest its body (as a headline above an article).
fn split_title(text: &str) -> (String, String) {
    let text = text.trim();
    match text.split_once('\n') {
        Some((title, body)) if !body.trim().is_empty() => (title.trim().to_string(), body.trim().to_string()),
        _ => (String::new(), text.to_string()),
    }
}
