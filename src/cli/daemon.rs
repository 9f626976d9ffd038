//! `newswatch run`: the daemon (or one round with `--once`), its signals and SIGHUP reloads.

use super::{ConfigArg, load_config};
use crate::fetch::Fetcher;
use crate::model::RunMode;
use crate::pipeline;
use crate::store::Store;
use anyhow::Context;
use tokio_util::sync::CancellationToken;

/// Runs the daemon until SIGINT/SIGTERM (or one round with `once`). An error when a task of
/// the pipeline failed: the process then exits non-zero, so a supervisor restarts it.
pub async fn run(arg: &ConfigArg, once: bool) -> anyhow::Result<()> {
    let mode = if once { RunMode::Once } else { RunMode::Daemon };
    let mut config = load_config(arg)?;
    let store = Store::connect(&config.store, &config.daemon.state_dir).await?;
    // Bound once, before anything polls: a taken address is a start-up error, and a reload
    // keeps the socket (changing `listen` needs a restart).
    let endpoint = match config.daemon.listen.filter(|_| !once) {
        Some(addr) => {
            let endpoint = crate::serve::Endpoint::bind(addr)
                .with_context(|| format!("{}: daemon.listen", config.source))?;
            tracing::info!(address = %endpoint.local_addr(), "serving /healthz and /metrics");
            Some(endpoint)
        }
        None => None,
    };
    let stop = CancellationToken::new();
    tokio::spawn(cancel_on_signal(stop.clone()));
    if !once {
        tokio::spawn(watchdog(store.clone(), stop.clone()));
    }
    let mut hangups = Hangups::new(!once);
    // Counts for the life of the process, across reloads.
    let mut totals = pipeline::RunSummary::default();
    loop {
        let fetcher = Fetcher::new(config.daemon.fetch_settings(), config.daemon.guard())
            .context("cannot build the HTTP client")?;
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
        let round_endpoint = endpoint.as_ref().map(crate::serve::Endpoint::try_clone).transpose()?;
        let mut pipeline = tokio::spawn({
            let (config, store, round) = (config.clone(), store.clone(), round.clone());
            async move { pipeline::run_serving(&config, store, fetcher, round, mode, round_endpoint).await }
        });
        if !once {
            // systemd's Type=notify: started (again, after a reload). Without NOTIFY_SOCKET
            // this does nothing.
            notify(&[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Status("polling")]);
        }
        let new_config = loop {
            tokio::select! {
                finished = &mut pipeline => {
                    totals.add(&finished.context("the pipeline crashed")??);
                    return finish(&totals, once);
                }
                () = hangups.next() => match load_config(arg) {
                    Err(err) => tracing::error!(error = %format!("{err:#}"), "reload refused; the running configuration stays"),
                    Ok(new) if new.daemon.state_dir != config.daemon.state_dir => tracing::error!(
                        state_dir = %new.daemon.state_dir.display(),
                        "reload refused: state_dir cannot change while running; restart instead"
                    ),
                    Ok(new) if new.store != config.store => tracing::error!(
                        "reload refused: [store] cannot change while running; restart instead"
                    ),
                    Ok(new) if new.daemon.listen != config.daemon.listen => tracing::error!(
                        listen = %new.daemon.listen.map(|addr| addr.to_string()).unwrap_or_else(|| "off".into()),
                        "reload refused: listen cannot change while running; restart instead"
                    ),
                    Ok(new) => break new,
                },
            }
        };
        let changes = feed_changes(&config, &new_config);
        tracing::info!(
            added = %changes.added.join(","),
            removed = %changes.removed.join(","),
            changed = %changes.changed.join(","),
            "reloading the configuration (SIGHUP)"
        );
        notify(&[sd_notify::NotifyState::Reloading]);
        round.cancel();
        totals.add(&pipeline.await.context("the pipeline crashed")??);
        config = new_config;
    }
}

/// Tells systemd (when it started us with `NOTIFY_SOCKET`) how the service is doing.
fn notify(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(states) {
        tracing::debug!(error = %err, "cannot notify systemd");
    }
}

/// systemd's watchdog (`WatchdogSec=`): pings at half the period while the store's writer still
/// commits, so a daemon whose database hangs is restarted by systemd. Says STOPPING on shutdown.
async fn watchdog(store: Store, stop: CancellationToken) {
    let period = sd_notify::watchdog_enabled();
    loop {
        let wait = period.map_or(std::time::Duration::from_secs(3600), |period| period / 2);
        tokio::select! {
            () = stop.cancelled() => {
                notify(&[sd_notify::NotifyState::Stopping]);
                return;
            }
            () = tokio::time::sleep(wait) => {}
        }
        if period.is_some() {
            match store.release(Vec::new()).await {
                Ok(()) => notify(&[sd_notify::NotifyState::Watchdog]),
                Err(err) => {
                    tracing::error!(error = %crate::error::chain(&err), "the store does not answer; not pinging the watchdog")
                }
            }
        }
    }
}

/// The feeds a reload adds, removes or changes, by name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FeedChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

/// Compares the feeds of two configurations.
pub fn feed_changes(old: &crate::config::Config, new: &crate::config::Config) -> FeedChanges {
    let mut changes = FeedChanges::default();
    for feed in &new.feeds {
        match old.feeds.iter().find(|known| known.name == feed.name) {
            None => changes.added.push(feed.name.clone()),
            Some(known) if format!("{known:?}") != format!("{feed:?}") => {
                changes.changed.push(feed.name.clone())
            }
            Some(_) => {}
        }
    }
    for feed in &old.feeds {
        if !new.feeds.iter().any(|kept| kept.name == feed.name) {
            changes.removed.push(feed.name.clone());
        }
    }
    changes
}

/// The end of the process: totals in the log; with `--once`, one summary line on stdout and a
/// distinct failure when not a single feed could be fetched.
fn finish(totals: &pipeline::RunSummary, once: bool) -> anyhow::Result<()> {
    tracing::info!(
        polls = totals.polls,
        not_modified = totals.not_modified,
        failures = totals.failures,
        new_items = totals.new_items,
        alerts = totals.alerts,
        "stopped"
    );
    if once {
        println!("newswatch: {totals}");
        if totals.nothing_fetched() {
            return Err(super::NothingFetched { polls: totals.polls }.into());
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    fn config(feeds: &[(&str, &str)]) -> Config {
        let mut text = String::from("[[topics]]\nid = \"us-russia-talks\"\n");
        for (name, interval) in feeds {
            text.push_str(&format!(
                "[[feeds]]\nname = \"{name}\"\nurl = \"http://127.0.0.1:9/{name}.xml\"\ninterval = \"{interval}\"\n"
            ));
        }
        Config::from_toml(&text, "test.toml", Path::new("config")).unwrap()
    }

    #[test]
    fn a_reload_names_the_feeds_it_adds_removes_and_changes() {
        let old = config(&[("kept", "5m"), ("gone", "5m"), ("faster", "10m")]);
        let new = config(&[("kept", "5m"), ("faster", "1m"), ("fresh", "5m")]);
        assert_eq!(
            feed_changes(&old, &new),
            FeedChanges {
                added: vec!["fresh".into()],
                removed: vec!["gone".into()],
                changed: vec!["faster".into()]
            }
        );
    }
}
