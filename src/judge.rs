//! The classify stage: scores every article against every topic and passes it on with its
//! verdicts. Baseline items are not classified. The scoring itself is `classify` (pure).

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
        let (article, verdicts) = if article.item.baseline_only {
            (article, Vec::new())
        } else {
            let topics = topics.clone();
            crate::cpu::run(move || {
                crate::fault::point("classify");
                let verdicts = classify_article(&topics, &article);
                (article, verdicts)
            })
            .await?
        };
        if classified.send(Classified { article, verdicts }).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// The exact classification the daemon applies to an article (also used by `explain --url`).
pub fn classify_article(topics: &[Topic], article: &Article) -> Vec<Verdict> {
    let document = Document { title: &article.title, body: &article.body };
    topics.iter().map(|topic| topic.classify(&document)).collect()
}
