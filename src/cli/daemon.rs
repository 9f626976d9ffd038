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
    let store = Store::open(&config.daemon.state_dir)?;
    let stop = CancellationToken::new();
    tokio::spawn(cancel_on_signal(stop.clone()));
    let mut hangups = Hangups::new(!once);
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
        let mut pipeline = tokio::spawn({
            let (config, store, round) = (config.clone(), store.clone(), round.clone());
            async move { pipeline::run(&config, store, fetcher, round, mode).await }
        });
        let new_config = loop {
            tokio::select! {
                finished = &mut pipeline => {
                    finished.context("the pipeline crashed")??;
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
        pipeline.await.context("the pipeline crashed")??;
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
