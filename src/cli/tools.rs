//! `eval`, `explain`, `extract` and `parse`: the tools for people tuning topics and checking
//! feeds and pages. They read files and print; the library modules they call do neither.

use super::{ConfigArg, load_config};
use crate::classify::{Document, Field, Span, Topic, format_weight, text_collapsed};
use crate::config::Config;
use crate::fetch::Fetcher;
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use url::Url;

fn find_topic<'a>(config: &'a Config, id: &str) -> anyhow::Result<&'a crate::classify::Topic> {
    config.topics.iter().find(|topic| topic.id == id).ok_or_else(|| {
        let known: Vec<&str> = config.topics.iter().map(|topic| topic.id.as_str()).collect();
        anyhow::anyhow!("{}: no topic {id:?} (configured: {})", config.source, known.join(", "))
    })
}

/// `newswatch eval`.
pub fn eval(arg: &ConfigArg, topic: &str, errors: bool, files: &[PathBuf]) -> anyhow::Result<()> {
    let config = load_config(arg)?;
    let topic = find_topic(&config, topic)?;
    let mut out = std::io::stdout().lock();
    eval_files(topic, files, errors, &mut out)?;
    Ok(())
}

/// `newswatch explain`.
pub async fn explain(
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
        let fetcher = Fetcher::new(config.daemon.fetch_settings(), config.daemon.guard())
            .context("cannot build the HTTP client")?;
        let fetched = fetcher.get(crate::fetch::Target::Page, url, &Default::default()).await;
        if let Err(err @ crate::fetch::FetchError::Blocked { .. }) = &fetched {
            anyhow::bail!(
                "{err}\nhint: pages on private or loopback addresses are refused unless the config sets `allow_private_networks = true` under [daemon] (or lists the host in `allow_hosts`); pass it with --config"
            );
        }
        let body = match fetched? {
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
    print_explanation(topic, &crate::classify::Document { title: &title, body: &body }, color, &mut out)?;
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

/// Confusion counts of an evaluation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvalCounts {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub true_negatives: usize,
}

impl EvalCounts {
    /// TP / (TP + FP); 0 when nothing was predicted positive.
    pub fn precision(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_positives)
    }

    /// TP / (TP + FN); 0 when there are no positives.
    pub fn recall(&self) -> f64 {
        ratio(self.true_positives, self.true_positives + self.false_negatives)
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (precision, recall) = (self.precision(), self.recall());
        if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) }
    }
}

fn ratio(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 { 0.0 } else { numerator as f64 / denominator as f64 }
}

impl std::ops::AddAssign for EvalCounts {
    fn add_assign(&mut self, other: EvalCounts) {
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.false_negatives += other.false_negatives;
        self.true_negatives += other.true_negatives;
    }
}

impl EvalCounts {
    fn total(&self) -> usize {
        self.true_positives + self.false_positives + self.false_negatives + self.true_negatives
    }
}

/// Confusion counts of a set of items and of its two halves, split by the parity of the first
/// hex digit of `sha256(id)` (a fixed split no rule can be tuned to, so the gap between the
/// halves shows how far the figures depend on the particular items).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvalSplit {
    pub all: EvalCounts,
    /// Items whose `sha256(id)` starts with an even hex digit.
    pub even: EvalCounts,
    /// Items whose `sha256(id)` starts with an odd hex digit.
    pub odd: EvalCounts,
}

impl std::ops::AddAssign for EvalSplit {
    fn add_assign(&mut self, other: EvalSplit) {
        self.all += other.all;
        self.even += other.even;
        self.odd += other.odd;
    }
}

/// Whether an item falls in the even half: the first hex digit of `sha256(id)` is even.
pub fn in_even_half(id: &str) -> bool {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(id.as_bytes());
    (digest[0] >> 4) % 2 == 0
}

/// The figures of an evaluation over several files.
#[derive(Debug, Clone, Default)]
pub struct EvalReport {
    /// Per file, in the order given.
    pub files: Vec<(PathBuf, EvalSplit)>,
    /// All files together.
    pub pooled: EvalSplit,
}

/// One labelled item of an evaluation file.
#[derive(Debug, Deserialize)]
struct EvalItem {
    #[serde(default)]
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    text: String,
    label: bool,
}

/// Classifies every item `{id, title, text, label}` of a JSON Lines file with
/// [`crate::classify::Topic::classify`] and prints the confusion counts, then `precision`, `recall` and `F1`
/// (the last line). With `show_errors`, the misclassified items and their explanations come
/// first. The same as [`eval_files`] with one file.
pub fn eval_jsonl(
    topic: &Topic,
    path: &Path,
    show_errors: bool,
    out: &mut dyn Write,
) -> anyhow::Result<EvalCounts> {
    Ok(eval_files(topic, &[path.to_path_buf()], show_errors, out)?.pooled.all)
}

/// Classifies the items of each JSON Lines file and prints, after the misclassified items (with
/// `show_errors`), a table of confusion counts, precision, recall and F1 per file and pooled,
/// each with its two halves (see [`EvalSplit`]); then the pooled confusion counts, and
/// `precision`, `recall` and `F1` as the last three lines.
pub fn eval_files(
    topic: &Topic,
    paths: &[PathBuf],
    show_errors: bool,
    out: &mut dyn Write,
) -> anyhow::Result<EvalReport> {
    let mut report = EvalReport::default();
    for path in paths {
        let split = eval_one_file(topic, path, show_errors, out)?;
        report.pooled += split;
        report.files.push((path.clone(), split));
    }
    let label_width = report
        .files
        .iter()
        .map(|(path, _)| path.display().to_string().chars().count())
        .max()
        .unwrap_or(0)
        .max(24);
    writeln!(out, "topic {}: halves by the first hex digit of sha256(id), even / odd", topic.id)?;
    writeln!(
        out,
        "{:<label_width$} {:>6} {:>5} {:>5} {:>5} {:>5} {:>5}  {:>9} {:>6} {:>6}",
        "file", "items", "pos", "TP", "FP", "FN", "TN", "precision", "recall", "F1"
    )?;
    let row = |out: &mut dyn Write, label: &str, counts: &EvalCounts| -> std::io::Result<()> {
        writeln!(
            out,
            "{label:<label_width$} {:>6} {:>5} {:>5} {:>5} {:>5} {:>5}  {:>9.3} {:>6.3} {:>6.3}",
            counts.total(),
            counts.true_positives + counts.false_negatives,
            counts.true_positives,
            counts.false_positives,
            counts.false_negatives,
            counts.true_negatives,
            counts.precision(),
            counts.recall(),
            counts.f1()
        )
    };
    let mut rows: Vec<(String, EvalSplit)> =
        report.files.iter().map(|(path, split)| (path.display().to_string(), *split)).collect();
    if paths.len() > 1 {
        rows.push((format!("pooled ({} files)", paths.len()), report.pooled));
    }
    for (label, split) in &rows {
        row(out, label, &split.all)?;
        row(out, "  even half", &split.even)?;
        row(out, "  odd half", &split.odd)?;
    }
    let counts = report.pooled.all;
    let names: Vec<String> = paths.iter().map(|path| path.display().to_string()).collect();
    writeln!(out, "topic {} on {}: {} items", topic.id, names.join(", "), counts.total())?;
    writeln!(out, "true positives  {}", counts.true_positives)?;
    writeln!(out, "false positives {}", counts.false_positives)?;
    writeln!(out, "false negatives {}", counts.false_negatives)?;
    writeln!(out, "true negatives  {}", counts.true_negatives)?;
    writeln!(out, "precision {:.3}", counts.precision())?;
    writeln!(out, "recall {:.3}", counts.recall())?;
    writeln!(out, "F1 {:.3}", counts.f1())?;
    Ok(report)
}

fn eval_one_file(
    topic: &Topic,
    path: &Path,
    show_errors: bool,
    out: &mut dyn Write,
) -> anyhow::Result<EvalSplit> {
    use anyhow::Context;
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut split = EvalSplit::default();
    for (line_index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let item: EvalItem = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not an eval item", path.display(), line_index + 1))?;
        let verdict = topic.classify(&Document { title: &item.title, body: &item.text });
        let mut one = EvalCounts::default();
        let kind = match (verdict.matched, item.label) {
            (true, true) => {
                one.true_positives = 1;
                None
            }
            (true, false) => {
                one.false_positives = 1;
                Some("false positive")
            }
            (false, true) => {
                one.false_negatives = 1;
                Some("false negative")
            }
            (false, false) => {
                one.true_negatives = 1;
                None
            }
        };
        split.all += one;
        if in_even_half(&item.id) {
            split.even += one;
        } else {
            split.odd += one;
        }
        if show_errors && let Some(kind) = kind {
            let headline = if item.title.is_empty() { &item.text } else { &item.title };
            let headline: String = headline.chars().take(100).collect();
            let headline = crate::text::printable(&text_collapsed(&headline)).into_owned();
            writeln!(
                out,
                "{kind}: {} (score {:.3}) {headline}",
                crate::text::printable(&item.id),
                verdict.score
            )?;
            for reason in &verdict.reasons {
                writeln!(out, "    {}", crate::text::printable(reason))?;
            }
        }
    }
    Ok(split)
}

/// Prints a verdict with each matched clause and its spans highlighted in context (ANSI colours
/// when `color`, `[[…]]` otherwise).
pub fn print_explanation(
    topic: &Topic,
    doc: &Document<'_>,
    color: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let verdict = topic.classify(doc);
    let (bold, green, red, yellow, reset) = if color {
        ("\x1b[1m", "\x1b[32m", "\x1b[31m", "\x1b[1;33m", "\x1b[0m")
    } else {
        ("", "", "", "", "")
    };
    let outcome =
        if verdict.matched { format!("{green}MATCH{reset}") } else { format!("{red}no match{reset}") };
    writeln!(
        out,
        "{bold}topic{reset} {} — score {:.3} (threshold {:.2}): {outcome}",
        topic.id, verdict.score, verdict.threshold
    )?;
    if verdict.clauses.is_empty() {
        writeln!(out, "no rule matched")?;
    }
    for clause in &verdict.clauses {
        let colour = if clause.weight > 0.0 { green } else { red };
        writeln!(out, "{colour}{}{reset} {bold}{}{reset}", format_weight(clause.weight), clause.name)?;
        writeln!(out, "      query: {}", clause.query)?;
        for field in [Field::Title, Field::Body] {
            let spans: Vec<&Span> = clause.spans.iter().filter(|span| span.field == field).collect();
            if spans.is_empty() {
                continue;
            }
            let text = if field == Field::Title { doc.title } else { doc.body };
            let offsets: Vec<String> =
                spans.iter().map(|span| format!("{}..{}", span.start, span.end)).collect();
            writeln!(out, "      {} [{}]", field.name(), offsets.join(", "))?;
            writeln!(out, "      {}", highlight(text, &spans, yellow, reset, color))?;
        }
    }
    writeln!(out, "{bold}snippet{reset}: {}", crate::text::printable(&verdict.snippet))?;
    Ok(())
}

/// The text from a little before the first span to a little after the last, spans marked.
fn highlight(text: &str, spans: &[&Span], on: &str, off: &str, color: bool) -> String {
    const CONTEXT_CHARS: usize = 60;
    let (Some(first), Some(last)) = (spans.first(), spans.last()) else {
        return String::new();
    };
    let start = text[..first.start].char_indices().rev().nth(CONTEXT_CHARS - 1).map_or(0, |(index, _)| index);
    let end =
        text[last.end..].char_indices().nth(CONTEXT_CHARS).map_or(text.len(), |(index, _)| last.end + index);
    let (open, close) = if color { (on, off) } else { ("[[", "]]") };
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    let mut position = start;
    for span in spans {
        if span.start < position {
            continue;
        }
        // Text is data (a page's, a feed's): the one escaping rule, around our own markers.
        out.push_str(&crate::text::printable(&text[position..span.start]));
        out.push_str(open);
        out.push_str(&crate::text::printable(&text[span.start..span.end]));
        out.push_str(close);
        position = span.end;
    }
    out.push_str(&crate::text::printable(&text[position..end.max(position)]));
    if end < text.len() {
        out.push('…');
    }
    text_collapsed(&out)
}

/// One line of `newswatch extract` output.
#[derive(Debug, serde::Serialize)]
struct ExtractLine<'a> {
    path: &'a str,
    title: Option<&'a str>,
    text: &'a str,
    authors: &'a [String],
    published: Option<DateTime<Utc>>,
    lang: Option<&'a str>,
    canonical_url: Option<&'a str>,
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `newswatch extract`: extracts each file (`.html`, `.html.gz`, or `-` for stdin) and writes one
/// JSON object per line to `out`. Returns `Ok(false)` when a file could not be read (the others
/// are still processed), `Ok(true)` otherwise; an extraction error is reported in the line's
/// `error` field, not as a failure.
pub fn extract_files(
    files: &[PathBuf],
    url: Option<&Url>,
    charset: Option<&str>,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<bool> {
    let mut all_read = true;
    for path in files {
        let shown = path.display().to_string();
        let bytes = match read_page(path) {
            Ok(bytes) => bytes,
            Err(err) => {
                eprintln!("error: {err:#}");
                all_read = false;
                continue;
            }
        };
        let result = crate::extract::article(&bytes, url, charset);
        let line = match &result {
            Ok(found) => ExtractLine {
                path: &shown,
                title: found.title.as_deref(),
                text: &found.text,
                authors: &found.authors,
                published: found.published,
                lang: found.lang.as_deref(),
                canonical_url: found.canonical_url.as_deref(),
                method: &found.method,
                error: None,
            },
            Err(err) => ExtractLine {
                path: &shown,
                title: None,
                text: "",
                authors: &[],
                published: None,
                lang: None,
                canonical_url: None,
                method: "",
                error: Some(err.to_string()),
            },
        };
        // Page text is data: the one escaping rule, as for every JSON line we write.
        let json = serde_json::to_string(&line).context("cannot serialise output")?;
        writeln!(out, "{}", crate::text::escape_json(&json)).context("cannot write output")?;
    }
    out.flush().context("cannot write output")?;
    Ok(all_read)
}

/// Reads a page file, gunzipping `.gz` files; `-` is stdin.
pub fn read_page(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes).context("cannot read stdin")?;
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        if path.extension().is_some_and(|ext| ext == "gz") {
            flate2::read::GzDecoder::new(file)
                .read_to_end(&mut bytes)
                .with_context(|| format!("cannot gunzip {}", path.display()))?;
        } else {
            std::io::BufReader::new(file)
                .read_to_end(&mut bytes)
                .with_context(|| format!("cannot read {}", path.display()))?;
        }
    }
    Ok(bytes)
}

/// `newswatch parse`: parses each file as the daemon would and writes one line per file to
/// `out` (human-readable, or with `json` one object per line with `path`, `ok`, `format`,
/// `encoding`, `items`, `repairs`, `error`). Relative links are resolved against
/// `http://localhost/<file name>`, since a file on disk has no web address. Returns `Ok(false)`
/// when some path could not be read (its line says why); parse failures are reported, not errors.
pub fn parse_files(
    files: &[std::path::PathBuf],
    json: bool,
    charset: Option<&str>,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<bool> {
    let mut all_read = true;
    for path in files {
        let shown = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) => {
                all_read = false;
                let reason = format!("cannot read {shown}: {err}");
                if json {
                    let line = serde_json::json!({"path": shown, "ok": false, "format": null, "encoding": null,
                        "items": null, "repairs": [], "error": reason});
                    writeln!(out, "{}", crate::text::escape_json(&line.to_string()))?;
                } else {
                    writeln!(out, "{}", crate::text::printable(&format!("{shown}: error: {reason}")))?;
                }
                continue;
            }
        };
        let feed_url = file_feed_url(path);
        let result = crate::feed::parse(&bytes, &feed_url, charset);
        if json {
            let line = match &result {
                Ok(feed) => serde_json::json!({"path": shown, "ok": true, "format": feed.format,
                    "encoding": feed.encoding, "items": feed.entries.len(), "repairs": feed.repairs, "error": null}),
                Err(err) => {
                    serde_json::json!({"path": shown, "ok": false, "format": null, "encoding": null,
                    "items": null, "repairs": [], "error": err.reason})
                }
            };
            writeln!(out, "{}", crate::text::escape_json(&line.to_string()))?;
        } else {
            match &result {
                Ok(feed) => {
                    let repairs =
                        if feed.repairs.is_empty() { "none".to_string() } else { feed.repairs.join(",") };
                    let line = format!(
                        "{shown}: {} items, format {}, encoding {}, repairs {repairs}",
                        feed.entries.len(),
                        feed.format,
                        feed.encoding
                    );
                    writeln!(out, "{}", crate::text::printable(&line))?;
                }
                Err(err) => writeln!(out, "{}", crate::text::printable(&format!("{shown}: error: {err}")))?,
            }
        }
    }
    Ok(all_read)
}

/// `http://localhost/<file name>`: the base for relative links in a feed read from disk.
fn file_feed_url(path: &std::path::Path) -> Url {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let localhost = Url::parse("http://localhost/").expect("static URL is valid");
    localhost.join(&name).unwrap_or(localhost)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::TopicSpec;

    /// A topic from an inline single query.
    fn topic(query: &str, _lists: &[(&str, &[&str])]) -> Topic {
        let spec = TopicSpec { id: "test".into(), query: Some(query.into()), ..TopicSpec::default() };
        Topic::load_all(&[spec], Path::new(".")).unwrap_or_else(|_| panic!("bad query {query}")).remove(0)
    }

    fn feed_fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/feeds/parse")
    }

    #[test]
    fn eval_prints_confusion_counts_and_figures() {
        // A deliberately naive topic (both sides in one sentence), so the figures do not move when
        // the shipped topic is retuned: it takes a fundraiser naming both leaders for talks and
        // misses a release negotiation that names only one side.
        let topic = topic(
            "(Lavrov OR Putin OR Naryshkin OR Russia OR России) NEAR/s (Rubio OR Biden OR Trump OR CIA OR США)",
            &[],
        );
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/relevance/sample.jsonl"));
        let mut out = Vec::new();
        let counts = eval_jsonl(&topic, path, true, &mut out).unwrap();
        let printed = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = printed.lines().collect();
        assert_eq!(
            counts,
            EvalCounts { true_positives: 3, false_positives: 1, false_negatives: 1, true_negatives: 3 },
            "{printed}"
        );
        assert_eq!(&lines[lines.len() - 3..], ["precision 0.750", "recall 0.750", "F1 0.750"]);
        assert!(printed.starts_with("false negative: rss-c258182cc623"), "{printed}");
        assert!(printed.contains("false positive: rss-5a480ed114ba"), "{printed}");
        assert!(
            printed.contains("true positives  3\nfalse positives 1\nfalse negatives 1\ntrue negatives  3\n")
        );

        // The shipped topic gets every fixture item right.
        let shipped = Topic::builtin("us-russia-talks").unwrap();
        let mut out = Vec::new();
        let counts = eval_jsonl(&shipped, path, false, &mut out).unwrap();
        assert_eq!((counts.false_positives, counts.false_negatives), (0, 0));
        assert!(String::from_utf8(out).unwrap().ends_with("F1 1.000\n"));
    }

    #[test]
    fn explain_shows_score_verdict_and_highlighted_spans() {
        let topic = topic("lavrov NEAR/s rubio", &[]);
        let doc = Document { title: "", body: "Lavrov met Rubio." };
        let mut plain = Vec::new();
        print_explanation(&topic, &doc, false, &mut plain).unwrap();
        let plain = String::from_utf8(plain).unwrap();
        assert!(plain.contains("score 1.000"), "{plain}");
        assert!(plain.contains("MATCH"), "{plain}");
        assert!(plain.contains("body [0..6, 11..16]"), "{plain}");
        assert!(plain.contains("[[Lavrov]] met [[Rubio]]."), "{plain}");
        let mut coloured = Vec::new();
        print_explanation(&topic, &doc, true, &mut coloured).unwrap();
        assert!(String::from_utf8(coloured).unwrap().contains("\x1b[1;33mLavrov\x1b[0m"));
    }

    #[test]
    fn parse_files_reports_each_file_and_unreadable_paths() {
        let files = vec![
            feed_fixtures().join("feeder__rss_ukrnet.xml"),
            feed_fixtures().join("suite/wellformed_cdf_item_title.xml"),
            feed_fixtures().join("does-not-exist.xml"),
        ];
        let mut out = Vec::new();
        let all_read = parse_files(&files, true, None, &mut out).expect("writing to a Vec");
        assert!(!all_read);
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .expect("UTF-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["ok"], true);
        assert_eq!(lines[0]["format"], "rss2.0");
        assert_eq!(lines[0]["encoding"], "utf-8");
        assert_eq!(lines[0]["items"], 3);
        assert_eq!(lines[0]["repairs"][0], "stray-default-namespace");
        assert_eq!(lines[1]["format"], "cdf");
        assert_eq!(lines[2]["ok"], false);
        assert!(lines[2]["error"].as_str().is_some_and(|e| e.contains("cannot read")));

        let mut human = Vec::new();
        assert!(parse_files(&files[..1], false, Some("utf-8"), &mut human).expect("writing to a Vec"));
        let text = String::from_utf8(human).expect("UTF-8");
        assert!(
            text.contains("3 items, format rss2.0, encoding utf-8, repairs stray-default-namespace"),
            "{text}"
        );
    }

    #[test]
    fn extract_files_prints_a_json_line_per_file_and_reports_unreadable_ones() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.html");
        std::fs::write(&empty, "<html><body></body></html>").unwrap();
        let files = vec![
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pages/jpost.html.gz"),
            empty,
            dir.path().join("missing.html"),
        ];
        let mut out = Vec::new();
        let all_read = extract_files(&files, None, None, &mut out).unwrap();
        assert!(!all_read);
        let lines: Vec<serde_json::Value> =
            String::from_utf8(out).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0]["text"].as_str().unwrap().contains("stabbed"));
        assert!(lines[0]["path"].as_str().unwrap().ends_with("jpost.html.gz"));
        assert!(lines[0].get("error").is_none());
        assert_eq!(lines[1]["text"], "");
        assert_eq!(lines[1]["error"], "no article text found");
    }

    #[test]
    fn explaining_random_text_never_panics() {
        let topic = Topic::builtin("us-russia-talks").unwrap();
        for text in ["Лавров\u{0306} &amp; Rubio — talks 🙂", "", " \n ", "talks\u{200B}Putin"] {
            let mut out = Vec::new();
            print_explanation(&topic, &Document { title: "", body: text }, false, &mut out).unwrap();
        }
    }
}
