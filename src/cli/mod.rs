//! The command line: `run`, `check-config`, `alerts`, `feeds list` and the tools around them.
//! Everything printed for a person lives under this module; the library modules return data.
//!
//! - [`daemon`]: `run`, signals, reload.
//! - [`alerts`]: `alerts` (filter, follow, show).
//! - [`report`]: `check-config`, `feeds list`.
//! - [`tools`]: `eval`, `explain`, `extract`, `parse`.

pub mod alerts;
pub mod daemon;
pub mod demo;
pub mod feeds;
pub mod report;
pub mod stories;
pub mod tools;

use crate::config::{Config, ConfigError};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use url::Url;

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
    /// Read the alert log: a table by default, JSON lines or Markdown on request; newest last.
    #[command(
        after_help = "Examples:\n  newswatch alerts --since 24h\n  newswatch alerts --topic us-russia-talks --format json | jq .title\n  newswatch alerts --feed reuters-world --min-score 0.8 --limit 20\n  newswatch alerts --grep lavrov --since 2026-11-01 --until 2026-11-15\n  newswatch alerts --follow                # like tail -F: new alerts as they are written\n  newswatch alerts show 3f2a9c             # one alert with its whole explanation"
    )]
    Alerts {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        filters: alerts::Filters,
        /// How to print them.
        #[arg(long, value_enum, default_value_t = alerts::Format::Table)]
        format: alerts::Format,
        /// Print the raw JSON lines (same as --format json).
        #[arg(long)]
        json: bool,
        /// Keep printing new alerts as they are appended; survives the log being rotated.
        #[arg(long)]
        follow: bool,
        #[command(subcommand)]
        command: Option<AlertsCommand>,
    },
    /// Try newswatch without the internet: serve sample feeds on 127.0.0.1, run one round
    /// against them, and show the alerts with their explanations.
    #[command(
        after_help = "Examples:\n  newswatch demo\n  newswatch demo --keep          # keep the sample site up and run the daemon against it\n  newswatch demo --port 8765 --state-dir /tmp/demo"
    )]
    Demo {
        /// The port to serve the sample site on [default: any free port].
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Where to keep the demo's database and alert log [default: a temporary directory].
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Keep serving after the round and write a config to run the daemon against the site.
        #[arg(long)]
        keep: bool,
    },
    /// Recent stories (items grouped by event): their items, outlets and why each item joined.
    #[command(
        after_help = "Examples:\n  newswatch stories\n  newswatch stories --since 24h --topic us-russia-talks\n  newswatch stories --json | jq -r '.members[].url'"
    )]
    Stories {
        #[command(flatten)]
        config: ConfigArg,
        /// Only stories with an item recorded after this: a duration back from now (90m, 24h,
        /// 7d) or a date or time [default: 72h].
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Only stories this topic alerted on.
        #[arg(long, value_name = "ID")]
        topic: Option<String>,
        /// One JSON object per story per line, with its members.
        #[arg(long)]
        json: bool,
        /// At most this many stories, the most recently active first.
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: usize,
    },
    /// One screen of health: the daemon, failing feeds (worst first), pending deliveries per
    /// sink, the last alert, the database's size.
    #[command(after_help = "Example:\n  newswatch status --config /etc/newswatch/newswatch.toml")]
    Status {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Run the full integrity check of the state database (every page and index; reads the
    /// whole file). Start-up checks only the header and schema, so it stays fast on a large
    /// database; run this after a crash of the machine or before a backup.
    #[command(
        after_help = "Exit status: 0 healthy, 1 damaged or unreadable (each problem printed), 2 bad config.\nSafe while the daemon runs (read-only).\n\nExample:\n  newswatch check-store --config /etc/newswatch/newswatch.toml"
    )]
    CheckStore {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  newswatch completions bash > ~/.local/share/bash-completion/completions/newswatch\n  newswatch completions zsh > ~/.zfunc/_newswatch\n  newswatch completions fish > ~/.config/fish/completions/newswatch.fish"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Configured feeds: list, add, remove, import, export, check.
    #[command(
        after_help = "Examples:\n  newswatch feeds list\n  newswatch feeds add https://www.example.org/ --reload\n  newswatch feeds remove example\n  newswatch feeds import subscriptions.opml\n  newswatch feeds export > feeds.opml\n  newswatch feeds check https://www.example.org/rss.xml"
    )]
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
    /// Group items into stories offline: one JSON line per item with its story and why it joined.
    #[command(
        after_help = "Items are JSON Lines {\"id\", \"title\", \"text\", \"published\", \"url\"?, \"feed\"?}, clustered in\npublished order; prints {\"id\", \"story\", \"why\", \"similarity\", \"matched\"} per item.\n\nExamples:\n  newswatch cluster items.jsonl\n  newswatch cluster --window 24h items.jsonl | jq -c 'select(.why != \"new\")'"
    )]
    Cluster {
        /// Items join only items published this close to them (e.g. 24h, 3d).
        #[arg(long, value_name = "DURATION", default_value = "72h")]
        window: String,
        /// The items.
        #[arg(value_name = "FILE.jsonl")]
        file: PathBuf,
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
pub enum AlertsCommand {
    /// One alert with its whole explanation; a unique prefix of its id is enough.
    #[command(after_help = "Example:\n  newswatch alerts show 3f2a9c")]
    Show {
        #[command(flatten)]
        config: ConfigArg,
        /// The alert id (as printed by `newswatch alerts`), or a unique prefix of it.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum FeedsCommand {
    /// The configured feeds with their last status: last fetch, last error, items seen, next poll.
    #[command(
        after_help = "Examples:\n  newswatch feeds list\n  newswatch feeds list --json | jq -r 'select(.consecutive_failures > 0) | .name'"
    )]
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// One JSON object per feed per line.
        #[arg(long)]
        json: bool,
    },
    /// Add a feed to the configuration file (comments and layout are kept). A web page's feed is
    /// discovered from its <link rel="alternate"> or common paths.
    #[command(
        after_help = "Examples:\n  newswatch feeds add https://www.example.org/world/rss.xml\n  newswatch feeds add https://www.example.org/ --name example --interval 5m\n  newswatch feeds add https://example.org/feed --tag russia --no-scrape --reload"
    )]
    Add {
        #[command(flatten)]
        config: ConfigArg,
        /// The feed's URL, or a web page that names its feed.
        url: Url,
        /// The feed's name in logs and alerts [default: from the host name].
        #[arg(long)]
        name: Option<String>,
        /// How often to poll it (e.g. 5m) [default: the `[defaults]` interval].
        #[arg(long, value_name = "DURATION")]
        interval: Option<String>,
        /// Do not fetch article pages; classify the feed's own title and summary.
        #[arg(long)]
        no_scrape: bool,
        /// A label for the feed (repeatable).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Add the URL as given, without fetching it.
        #[arg(long)]
        no_check: bool,
        /// Send SIGHUP to the running daemon so it polls the new feed now.
        #[arg(long)]
        reload: bool,
    },
    /// Remove a feed from the configuration file by name.
    #[command(after_help = "Example:\n  newswatch feeds remove example --reload")]
    Remove {
        #[command(flatten)]
        config: ConfigArg,
        /// The feed's name.
        name: String,
        /// Send SIGHUP to the running daemon.
        #[arg(long)]
        reload: bool,
    },
    /// Add every feed of an OPML file (nested outlines flattened; folders become tags).
    #[command(after_help = "Example:\n  newswatch feeds import subscriptions.opml")]
    Import {
        #[command(flatten)]
        config: ConfigArg,
        /// The OPML file.
        #[arg(value_name = "FILE.opml")]
        file: PathBuf,
        /// Send SIGHUP to the running daemon.
        #[arg(long)]
        reload: bool,
    },
    /// Print the configured feeds as OPML 2.0.
    #[command(after_help = "Example:\n  newswatch feeds export > newswatch.opml")]
    Export {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Fetch a feed once and show what the daemon would make of it; stores nothing.
    #[command(after_help = "Example:\n  newswatch feeds check https://www.example.org/world/rss.xml")]
    Check {
        #[command(flatten)]
        config: ConfigArg,
        /// The feed's URL.
        url: Url,
    },
}

/// Exit code for bad configuration.
pub const EXIT_CONFIG: i32 = 2;
/// Exit code for everything else that failed.
pub const EXIT_FAILURE: i32 = 1;

/// Exit code of `run --once` when not a single feed could be fetched (the machine is offline,
/// or every feed is down): cron and scripts can tell it from a quiet round.
pub const EXIT_NOTHING_FETCHED: i32 = 3;

/// `run --once` fetched nothing at all.
#[derive(Debug, thiserror::Error)]
#[error("no feed could be fetched ({polls} polls, every one failed; see the warnings above)")]
pub struct NothingFetched {
    pub polls: u64,
}

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub error: anyhow::Error,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        let code = if error.downcast_ref::<ConfigError>().is_some() {
            EXIT_CONFIG
        } else if error.downcast_ref::<NothingFetched>().is_some() {
            EXIT_NOTHING_FETCHED
        } else {
            EXIT_FAILURE
        };
        Failure { code, error }
    }
}

pub(crate) fn load_config(arg: &ConfigArg) -> anyhow::Result<Config> {
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
        Command::Run { config, once } => daemon::run(&config, once).await,
        Command::CheckConfig { config } => report::check_config(&config),
        Command::Alerts { config: outer, command: Some(AlertsCommand::Show { config, id }), .. } => {
            // `alerts --config X show ID` and `alerts show ID --config X` both work.
            let config = if config.config.is_some() { config } else { outer };
            alerts::show_one(&config, &id)
        }
        Command::Alerts { config, filters, format, json, follow, command: None } => {
            let format = if json { alerts::Format::Json } else { format };
            alerts::show(&config, &filters, format, follow).await
        }
        Command::Feeds { command } => match command {
            FeedsCommand::List { config, json } => report::list_feeds(&config, json).await,
            FeedsCommand::Add { config, url, name, interval, no_scrape, tags, no_check, reload } => {
                let options = feeds::AddOptions {
                    url: &url,
                    name: name.as_deref(),
                    interval: interval.as_deref(),
                    no_scrape,
                    tags: &tags,
                    no_check,
                    reload,
                };
                feeds::add(&config, options).await
            }
            FeedsCommand::Remove { config, name, reload } => feeds::remove(&config, &name, reload),
            FeedsCommand::Import { config, file, reload } => feeds::import(&config, &file, reload),
            FeedsCommand::Export { config } => feeds::export(&config),
            FeedsCommand::Check { config, url } => feeds::check(&config, &url).await,
        },
        Command::Cluster { window, file } => crate::story::cluster_file(&file, &window),
        Command::Demo { port, state_dir, keep } => demo::run(port, state_dir, keep).await,
        Command::Status { config } => report::status(&config).await,
        Command::Stories { config, since, topic, json, limit } => {
            stories::show(&config, since.as_deref(), topic.as_deref(), json, limit).await
        }
        Command::CheckStore { config } => report::check_store(&config),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "newswatch", &mut std::io::stdout());
            Ok(())
        }
        Command::Eval { config, topic, errors, files } => tools::eval(&config, &topic, errors, &files),
        Command::Explain { config, topic, text, file, url } => {
            tools::explain(&config, &topic, text.as_deref(), file.as_deref(), url.as_ref()).await
        }
        Command::Extract { url, charset, files } => {
            let mut out = std::io::stdout().lock();
            let all_read = tools::extract_files(&files, url.as_ref(), charset.as_deref(), &mut out)?;
            if all_read { Ok(()) } else { Err(anyhow::anyhow!("some files could not be read")) }
        }
        Command::Parse { json, charset, files } => {
            let mut out = std::io::stdout().lock();
            let all_read = tools::parse_files(&files, json, charset.as_deref(), &mut out)?;
            if all_read { Ok(()) } else { Err(anyhow::anyhow!("some files could not be read")) }
        }
    }
    .map_err(Failure::from)
}
