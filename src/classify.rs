//! Topics and verdicts. OWNED BY THE CLASSIFY HELPER: this is the interface stub.
//! No I/O except reading topic files at load time.

use serde::Deserialize;
use std::path::Path;

/// One `[[topics]]` entry of the config, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    pub id: String,
}

/// A compiled topic, ready to classify.
#[derive(Debug, Clone)]
pub struct Topic {
    pub id: String,
}

/// A problem with a topic definition, naming the topic, the file, the key and the reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{location}: {reason}")]
pub struct TopicError {
    /// e.g. `topics[0].query` or `config/topics/x.toml: query`
    pub location: String,
    pub reason: String,
}

/// The text to classify.
#[derive(Debug, Clone, Copy)]
pub struct Document<'a> {
    pub title: &'a str,
    pub body: &'a str,
}

/// The verdict of one topic on one document, with its explanation.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub topic: String,
    pub score: f64,
    pub matched: bool,
    /// Human-readable reasons, strongest first (the alert's `matched`).
    pub reasons: Vec<String>,
    /// Up to ~300 characters around the strongest evidence (the alert's `snippet`).
    pub snippet: String,
}

impl Topic {
    /// Compiles every configured topic; `config_dir` is where relative topic files are found.
    pub fn load_all(specs: &[TopicSpec], _config_dir: &Path) -> Result<Vec<Topic>, Vec<TopicError>> {
        Ok(specs.iter().map(|spec| Topic { id: spec.id.clone() }).collect())
    }

    /// Scores a document against this topic.
    pub fn classify(&self, _doc: &Document<'_>) -> Verdict {
        Verdict {
            topic: self.id.clone(),
            score: 0.0,
            matched: false,
            reasons: vec![],
            snippet: String::new(),
        }
    }
}
