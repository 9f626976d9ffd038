//! `newswatch feeds add | remove | import | export | check`: managing the watched feeds.
//!
//! Edits go to the configuration file in place (comments and layout kept, see
//! [`crate::config::edit`]); the edited text is validated exactly as `run` would validate it
//! before it replaces the file, atomically. A running daemon learns of an edit on SIGHUP
//! (`--reload` sends it).

use super::{ConfigArg, load_config};
use crate::config::edit::{self, NewFeed, slug, unique_name};
use crate::config::{Config, DEFAULT_CONFIG_PATH, INTERVAL_RANGE, parse_duration_in};
use crate::fetch::{Fetched, Fetcher, Target};
use anyhow::{Context, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use url::Url;

/// Paths tried, in order, when a page names no feed in `<link rel="alternate">`.
const COMMON_FEED_PATHS: &[&str] = &[
    "/feed",
    "/rss",
    "/rss.xml",
    "/feed.xml",
    "/atom.xml",
    "/index.xml",
    "/feeds/all.atom.xml",
    "/?feed=rss2",
];

/// The file `feeds add/remove/import` edit: `--config`, else `config/newswatch.toml`. The
/// embedded default cannot be edited.
fn config_file(arg: &ConfigArg) -> anyhow::Result<PathBuf> {
    match &arg.config {
        Some(path) => Ok(path.clone()),
        None if Path::new(DEFAULT_CONFIG_PATH).exists() => Ok(PathBuf::from(DEFAULT_CONFIG_PATH)),
        None => bail!(
            "no configuration file to edit: {DEFAULT_CONFIG_PATH} does not exist here; give --config PATH (the embedded default cannot be edited)"
        ),
    }
}

/// Validates `text` as `run` would and writes it over `path` atomically.
fn write_validated(path: &Path, text: &str) -> anyhow::Result<Config> {
    let config_dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let config = Config::from_toml(text, &path.display().to_string(), config_dir)
        .context("the edited configuration would not be valid; the file was not changed")?;
    let mut temp = tempfile::NamedTempFile::new_in(config_dir)
        .with_context(|| format!("cannot write beside {}", path.display()))?;
    temp.write_all(text.as_bytes())?;
    temp.as_file().sync_all()?;
    temp.persist(path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(config)
}

/// Tells the user how the daemon learns of the change, or sends SIGHUP itself.
fn after_edit(config: &Config, reload: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let pid = crate::store::daemon_pid(&config.daemon.state_dir);
    match (reload, pid) {
        (true, Some(pid)) => {
            let status = std::process::Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status()
                .context("cannot run kill to send SIGHUP")?;
            if !status.success() {
                bail!("could not send SIGHUP to the daemon (pid {pid})");
            }
            writeln!(out, "sent SIGHUP to the daemon (pid {pid}): it reloads the configuration now")?;
        }
        (true, None) => {
            writeln!(out, "no daemon runs on {}: nothing to reload", config.daemon.state_dir.display())?
        }
        (false, Some(pid)) => writeln!(
            out,
            "the running daemon (pid {pid}) polls the change after a reload: kill -HUP {pid}, or pass --reload"
        )?,
        (false, None) => writeln!(out, "the daemon polls it from its next start")?,
    }
    Ok(())
}

fn fetcher(config: &Config) -> anyhow::Result<Fetcher> {
    Fetcher::new(config.daemon.fetch_settings(), config.daemon.guard())
        .context("cannot build the HTTP client")
}

/// What a URL turned out to be.
enum Probe {
    Feed {
        url: Url,
        parsed: crate::feed::ParsedFeed,
    },
    /// An HTML page: the feeds it names, or that answer at common paths.
    Page {
        candidates: Vec<(Url, String)>,
    },
}

async fn probe(fetcher: &Fetcher, url: &Url, target: Target) -> anyhow::Result<Probe> {
    let body = match fetcher
        .get(target, url, &Default::default())
        .await
        .with_context(|| format!("cannot fetch {url}"))?
    {
        Fetched::Body(body) => body,
        Fetched::NotModified => bail!("{url} answered 304 to a request without validators"),
    };
    if let Ok(parsed) = crate::feed::parse(&body.bytes, &body.final_url, body.charset.as_deref())
        && parsed.format != "unknown"
    {
        return Ok(Probe::Feed { url: url.clone(), parsed });
    }
    let looks_html = body.content_type.as_deref().is_some_and(|kind| kind.contains("html"))
        || body.bytes.iter().take(1024).any(|&b| b == b'<');
    if !looks_html {
        bail!("{url} is neither a feed nor a web page");
    }
    Ok(Probe::Page { candidates: alternate_links(&body.bytes, &body.final_url) })
}

/// `<link rel="alternate" type="application/rss+xml|atom+xml|feed+json" href=…>` of a page.
pub fn alternate_links(html: &[u8], base: &Url) -> Vec<(Url, String)> {
    let text = String::from_utf8_lossy(html);
    let document = scraper::Html::parse_document(&text);
    let selector = scraper::Selector::parse("link[rel][href][type]").expect("a valid selector");
    let mut found: Vec<(Url, String)> = Vec::new();
    for link in document.select(&selector) {
        let element = link.value();
        let rel = element.attr("rel").unwrap_or_default().to_ascii_lowercase();
        let kind = element.attr("type").unwrap_or_default().to_ascii_lowercase();
        let is_feed =
            ["rss+xml", "atom+xml", "feed+json", "rdf+xml"].iter().any(|suffix| kind.ends_with(suffix));
        if !rel.split_ascii_whitespace().any(|word| word == "alternate") || !is_feed {
            continue;
        }
        let Some(url) = element.attr("href").and_then(|href| base.join(href.trim()).ok()) else { continue };
        if !matches!(url.scheme(), "http" | "https") || found.iter().any(|(known, _)| *known == url) {
            continue;
        }
        let title = element.attr("title").unwrap_or_default().trim().to_string();
        found.push((url, title));
    }
    found
}

/// Finds the feed behind `url`: the URL itself, the feeds its page names, or a feed at a
/// common path of its site. Returns every feed found (with a label).
async fn discover(fetcher: &Fetcher, url: &Url) -> anyhow::Result<Vec<(Url, String)>> {
    let candidates = match probe(fetcher, url, Target::Feed).await? {
        Probe::Feed { url, parsed } => return Ok(vec![(url, parsed.format)]),
        Probe::Page { candidates } if !candidates.is_empty() => candidates,
        Probe::Page { .. } => COMMON_FEED_PATHS
            .iter()
            .filter_map(|path| url.join(path).ok())
            .map(|candidate| (candidate, String::new()))
            .collect(),
    };
    let mut feeds = Vec::new();
    for (candidate, label) in candidates {
        // The page's own site is as trusted as the URL the user typed; elsewhere, the guard.
        let target = if candidate.host_str() == url.host_str() { Target::Feed } else { Target::Page };
        if let Ok(Probe::Feed { url, parsed }) = probe(fetcher, &candidate, target).await {
            let label = if label.is_empty() { parsed.format } else { label };
            feeds.push((url, label));
        }
    }
    Ok(feeds)
}

/// Options of `feeds add`.
pub struct AddOptions<'a> {
    pub url: &'a Url,
    pub name: Option<&'a str>,
    pub interval: Option<&'a str>,
    pub no_scrape: bool,
    pub tags: &'a [String],
    pub no_check: bool,
    pub reload: bool,
}

/// `newswatch feeds add URL`.
pub async fn add(arg: &ConfigArg, options: AddOptions<'_>) -> anyhow::Result<()> {
    let path = config_file(arg)?;
    let config = load_config(&ConfigArg { config: Some(path.clone()) })?;
    if let Some(interval) = options.interval {
        parse_duration_in(interval, INTERVAL_RANGE)
            .map_err(|reason| anyhow::anyhow!("--interval: {reason}"))?;
    }
    let mut out = std::io::stdout().lock();
    let feed_url = if options.no_check {
        options.url.clone()
    } else {
        let found = discover(&fetcher(&config)?, options.url).await?;
        match found.as_slice() {
            [] => bail!(
                "{} is a page that names no feed, and none answered at the usual paths; give the feed's own URL (or --no-check to add it anyway)",
                options.url
            ),
            [(url, _)] => {
                if url != options.url {
                    writeln!(out, "found the feed {url}")?;
                }
                url.clone()
            }
            several => {
                writeln!(
                    out,
                    "{} names {} feeds; add the one you want by its URL:",
                    options.url,
                    several.len()
                )?;
                for (url, label) in several {
                    writeln!(out, "  {url}  {}", crate::text::printable(label))?;
                }
                bail!("several feeds found; none added");
            }
        }
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let taken: Vec<String> = config.feeds.iter().map(|feed| feed.name.clone()).collect();
    let name = match options.name {
        Some(name) => name.to_string(),
        None => unique_name(&slug(feed_url.host_str().unwrap_or("feed").trim_start_matches("www.")), &taken),
    };
    let feed = NewFeed {
        name: name.clone(),
        url: feed_url.to_string(),
        interval: options.interval.map(str::to_string),
        scrape: options.no_scrape.then_some(false),
        tags: options.tags.to_vec(),
    };
    let edited = edit::add_feeds(&text, &[feed]).with_context(|| format!("{}", path.display()))?;
    let config = write_validated(&path, &edited)?;
    writeln!(out, "added feed {name:?} ({feed_url}) to {}", path.display())?;
    after_edit(&config, options.reload, &mut out)
}

/// `newswatch feeds remove NAME`.
pub fn remove(arg: &ConfigArg, name: &str, reload: bool) -> anyhow::Result<()> {
    let path = config_file(arg)?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let edited = edit::remove_feed(&text, name).with_context(|| format!("{}", path.display()))?;
    let config = write_validated(&path, &edited)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "removed feed {name:?} from {}", path.display())?;
    after_edit(&config, reload, &mut out)
}

/// `newswatch feeds import FILE.opml`.
pub fn import(arg: &ConfigArg, file: &Path, reload: bool) -> anyhow::Result<()> {
    let path = config_file(arg)?;
    let config = load_config(&ConfigArg { config: Some(path.clone()) })?;
    let opml = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let taken: Vec<String> = config.feeds.iter().map(|feed| feed.name.clone()).collect();
    let imported = crate::config::opml::import(&opml, &taken)
        .map_err(|reason| anyhow::anyhow!("{}: {reason}", file.display()))?;
    let known_urls: Vec<String> = config.feeds.iter().map(|feed| feed.url.to_string()).collect();
    let (already, new): (Vec<NewFeed>, Vec<NewFeed>) = imported.into_iter().partition(|feed| {
        Url::parse(&feed.url).is_ok_and(|url| known_urls.contains(&url.to_string()))
            || known_urls.contains(&feed.url)
    });
    let mut out = std::io::stdout().lock();
    if new.is_empty() {
        writeln!(out, "{}: no new feeds ({} already watched)", file.display(), already.len())?;
        return Ok(());
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let edited = edit::add_feeds(&text, &new).with_context(|| format!("{}", path.display()))?;
    let config = write_validated(&path, &edited)?;
    for feed in &new {
        writeln!(out, "  + {:<24} {}", feed.name, crate::text::printable(&feed.url))?;
    }
    writeln!(
        out,
        "imported {} feeds from {} into {} ({} already watched)",
        new.len(),
        file.display(),
        path.display(),
        already.len()
    )?;
    after_edit(&config, reload, &mut out)
}

/// `newswatch feeds export`: OPML 2.0 on standard output.
pub fn export(arg: &ConfigArg) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let xml = crate::config::opml::export(&config.feeds, "newswatch feeds")
        .map_err(|reason| anyhow::anyhow!("cannot write OPML: {reason}"))?;
    std::io::stdout().lock().write_all(xml.as_bytes())?;
    Ok(())
}

/// `newswatch feeds check URL`: one fetch through the daemon's fetcher and parser; what was
/// parsed and which items would alert on which topic. Writes no state.
pub async fn check(arg: &ConfigArg, url: &Url) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let fetcher = fetcher(&config)?;
    let body = match fetcher
        .get(Target::Feed, url, &Default::default())
        .await
        .with_context(|| format!("cannot fetch {url}"))?
    {
        Fetched::Body(body) => body,
        Fetched::NotModified => bail!("{url} answered 304 to a request without validators"),
    };
    let parsed = crate::feed::parse(&body.bytes, &body.final_url, body.charset.as_deref())
        .map_err(|err| anyhow::anyhow!("{url}: not a usable feed: {err}"))?;
    let mut out = std::io::stdout().lock();
    let dated = parsed.entries.iter().filter(|entry| entry.published.or(entry.updated).is_some()).count();
    let newest = parsed.entries.iter().filter_map(|entry| entry.published.or(entry.updated)).max();
    let oldest = parsed.entries.iter().filter_map(|entry| entry.published.or(entry.updated)).min();
    writeln!(out, "feed      {}", crate::text::printable(body.final_url.as_str()))?;
    writeln!(out, "format    {} ({})", parsed.format, parsed.encoding)?;
    if !parsed.repairs.is_empty() {
        writeln!(out, "repairs   {}", parsed.repairs.join(", "))?;
    }
    writeln!(out, "items     {} ({dated} dated)", parsed.entries.len())?;
    if let (Some(oldest), Some(newest)) = (oldest, newest) {
        writeln!(out, "dates     {} .. {}", oldest.to_rfc3339(), newest.to_rfc3339())?;
    }
    let mut n_alerts = 0;
    for entry in &parsed.entries {
        let document = crate::classify::Document { title: &entry.title, body: &entry.summary };
        let hits: Vec<String> = config
            .topics
            .iter()
            .map(|topic| topic.judge(&document))
            .filter(|verdict| verdict.matched)
            .map(|verdict| format!("{} {:.2}", verdict.topic, verdict.score))
            .collect();
        n_alerts += usize::from(!hits.is_empty());
        let date = entry
            .published
            .or(entry.updated)
            .map_or_else(|| "-".to_string(), |at| at.format("%Y-%m-%d").to_string());
        let mark = if hits.is_empty() { "  " } else { "! " };
        writeln!(
            out,
            "{mark}{date:<10}  {}{}",
            crate::text::printable(&crate::text::truncate_chars(&entry.title, 90)),
            if hits.is_empty() { String::new() } else { format!("  [{}]", hits.join(", ")) }
        )?;
    }
    writeln!(
        out,
        "{n_alerts} of {} items would alert on their feed text alone (the daemon also reads the article pages); nothing was stored",
        parsed.entries.len()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_links_are_feeds_only_resolved_and_deduplicated() {
        let html = br#"<html><head>
            <link rel="alternate" type="application/rss+xml" title="All news" href="/rss.xml">
            <link rel="alternate" type="application/atom+xml" href="https://example.org/atom">
            <link rel="alternate" type="application/rss+xml" href="/rss.xml">
            <link rel="alternate" hreflang="de" href="/de/">
            <link rel="stylesheet" type="text/css" href="/a.css">
            <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
        </head><body></body></html>"#;
        let base = Url::parse("https://example.org/news/").unwrap();
        let links = alternate_links(html, &base);
        let urls: Vec<(&str, &str)> =
            links.iter().map(|(url, title)| (url.as_str(), title.as_str())).collect();
        assert_eq!(urls, [("https://example.org/rss.xml", "All news"), ("https://example.org/atom", "")]);
    }
}
