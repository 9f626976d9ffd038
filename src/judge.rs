//! The classify stage: scores every article against every topic and fingerprints it for the
//! story clusterer, then passes it on. Baseline items are fingerprinted, not classified. The
//! scoring itself is `classify` (pure), the fingerprint `story` (pure).

use crate::classify::{Document, Topic, Verdict};
use crate::model::{Article, Classified};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Scores every article against every topic on the CPU pool (so a long page cannot stall the
/// runtime, and a shutdown can abandon it). Baseline items are not classified.
pub async fn run(
    mut articles: mpsc::Receiver<Article>,
    topics: Arc<Vec<Topic>>,
    classified: mpsc::Sender<Classified>,
) -> Result<(), crate::cpu::Crashed> {
    while let Some(article) = articles.recv().await {
        let topics = topics.clone();
        let (article, verdicts, fingerprint) = crate::cpu::run(move || {
            let verdicts = if article.item.baseline_only {
                Vec::new()
            } else {
                crate::fault::point("classify");
                classify_article(&topics, &article)
            };
            let fingerprint = fingerprint_article(&article);
            (article, verdicts, Some(fingerprint))
        })
        .await?;
        if classified.send(Classified { article, verdicts, fingerprint }).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// The story fingerprint of an article: its title, text and link, as the clusterer compares them.
pub fn fingerprint_article(article: &Article) -> crate::story::Fingerprint {
    let link = article.item.entry.link.as_ref().map(|link| link.as_str());
    crate::story::fingerprint(&article.title, &article.body, link)
}

/// The exact classification the daemon applies to an article: every topic's score, and the
/// explanation of each match ([`Topic::judge`]).
pub fn classify_article(topics: &[Topic], article: &Article) -> Vec<Verdict> {
    let document = Document { title: &article.title, body: &article.body };
    topics.iter().map(|topic| topic.judge(&document)).collect()
}
