//! `newswatch demo`: a self-contained first run. It serves the sample feeds and article pages
//! of `demo/` (embedded in the binary) on 127.0.0.1, runs one round of the real pipeline
//! against them with the shipped topic, and prints the alerts with their explanations. With
//! `--keep` it keeps serving and leaves a configuration to run the daemon against.

use crate::config::Config;
use crate::fetch::Fetcher;
use crate::model::RunMode;
use crate::store::Store;
use anyhow::Context;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// The sample feeds: (path under /feeds/, body with `{{BASE}}` and `{{NOW}}`).
const FEEDS: &[(&str, &str)] = &[
    ("world.xml", include_str!("../../demo/world.xml")),
    ("russian.xml", include_str!("../../demo/russian.xml")),
];

/// The sample article pages, by file name under /pages/.
const PAGES: &[(&str, &str)] = &[
    ("riyadh-talks.html", include_str!("../../demo/pages/riyadh-talks.html")),
    ("phone-call.html", include_str!("../../demo/pages/phone-call.html")),
    ("storm.html", include_str!("../../demo/pages/storm.html")),
    ("rates.html", include_str!("../../demo/pages/rates.html")),
    ("lavrov-rubio-call.html", include_str!("../../demo/pages/lavrov-rubio-call.html")),
    ("exhibition.html", include_str!("../../demo/pages/exhibition.html")),
];

#[derive(Clone)]
struct Site {
    base: String,
}

async fn feed(State(site): State<Site>, UrlPath(name): UrlPath<String>) -> impl IntoResponse {
    match FEEDS.iter().find(|(file, _)| *file == name) {
        Some((_, body)) => {
            let now = chrono::Utc::now().to_rfc2822();
            let body = body.replace("{{BASE}}", &site.base).replace("{{NOW}}", &now);
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/rss+xml; charset=utf-8")], body)
                .into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn page(UrlPath(name): UrlPath<String>) -> impl IntoResponse {
    match PAGES.iter().find(|(file, _)| *file == name) {
        Some((_, body)) => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], *body).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Serves the demo site on 127.0.0.1:`port` (0: any free port) until `stop`; returns its base URL.
pub async fn serve(port: u16, stop: CancellationToken) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new()
        .route("/feeds/{name}", axum::routing::get(feed))
        .route("/pages/{name}", axum::routing::get(page))
        .with_state(Site { base: base.clone() });
    tokio::spawn(async move {
        let _ =
            axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await;
    });
    Ok(base)
}

/// The demo's configuration: the sample feeds, the shipped topic, state and alert log in
/// `state_dir`. Loopback addresses must be allowed, and one local host needs no rate limit.
pub fn config_text(base: &str, state_dir: &Path) -> String {
    let mut text = format!(
        "# Written by `newswatch demo`: the sample feeds it serves on {base}.\n[daemon]\nstate_dir = {:?}\nallow_private_networks = true   # the sample pages are on 127.0.0.1\nper_host_rate = 0                # one local host serves every page\n\n[defaults]\ninterval = \"1m\"\n\n",
        state_dir.display().to_string()
    );
    for (file, _) in FEEDS {
        let name = file.trim_end_matches(".xml");
        text.push_str(&format!("[[feeds]]\nname = \"demo-{name}\"\nurl = \"{base}/feeds/{file}\"\n\n"));
    }
    text.push_str(&format!(
        "[[topics]]\nid = \"us-russia-talks\"\n\n[[sinks]]\nkind = \"jsonl\"\npath = {:?}\n",
        state_dir.join("alerts.jsonl").display().to_string()
    ));
    text
}

/// `newswatch demo`.
pub async fn run(port: u16, state_dir: Option<PathBuf>, keep: bool) -> anyhow::Result<()> {
    let temp;
    let state_dir = match state_dir {
        Some(dir) => dir,
        None => {
            temp = tempfile::Builder::new()
                .prefix("newswatch-demo-")
                .tempdir()
                .context("cannot make a temporary directory")?;
            temp.path().to_path_buf()
        }
    };
    let stop = CancellationToken::new();
    let base = serve(port, stop.clone()).await?;
    let text = config_text(&base, &state_dir);
    let config = Config::from_toml(&text, "<demo config>", Path::new("config"))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "Serving {} sample feeds and {} article pages on {base}", FEEDS.len(), PAGES.len())?;
    writeln!(out, "Running one round of the pipeline against them (state in {})…\n", state_dir.display())?;
    drop(out);

    let store = Store::open(&config.daemon.state_dir)?;
    let fetcher = Fetcher::new(config.daemon.fetch_settings(), config.daemon.guard())
        .context("cannot build the HTTP client")?;
    let summary =
        crate::pipeline::run(&config, store, fetcher, CancellationToken::new(), RunMode::Once).await?;

    let log = state_dir.join("alerts.jsonl");
    let alerts = super::alerts::read_all(&log)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{summary}\n")?;
    for alert in &alerts {
        writeln!(
            out,
            "ALERT  {}  (score {:.2}, feed {})",
            crate::text::printable(&alert.title),
            alert.score,
            alert.feed
        )?;
        for reason in alert.matched.iter().take(3) {
            writeln!(out, "         matched: {}", crate::text::printable(reason))?;
        }
        writeln!(out, "         snippet: {}", crate::text::printable(&alert.snippet))?;
    }
    writeln!(
        out,
        "\n{} of the sample items alerted; the others (weather, rates, an exhibition) did not.\nThe alert log is {}.",
        alerts.len(),
        log.display()
    )?;
    if !keep {
        writeln!(
            out,
            "Next: `newswatch run` watches the feeds in config/newswatch.toml; `newswatch demo --keep` keeps this site up to run the daemon against it."
        )?;
        stop.cancel();
        return Ok(());
    }
    let config_path = state_dir.join("demo.toml");
    std::fs::write(&config_path, &text).with_context(|| format!("cannot write {}", config_path.display()))?;
    writeln!(
        out,
        "\nStill serving on {base} (Ctrl-C stops). In another terminal:\n  newswatch run --config {}\n  newswatch alerts --config {} --follow",
        config_path.display(),
        config_path.display()
    )?;
    drop(out);
    let _ = tokio::signal::ctrl_c().await;
    stop.cancel();
    Ok(())
}
