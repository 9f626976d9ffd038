//! Topics and verdicts: compiles topic definitions written in the topic query language and
//! scores documents against them, explaining every verdict.
//!
//! A topic is a set of weighted *rules*, each a query (see the README, "Topics"), plus named
//! term lists the queries share and a threshold. A document's score is the noisy-OR of the
//! weights of the positive rules that match, multiplied by `1 - |w|` for every matching negative
//! rule; it is a match when the score reaches the threshold. Every matched rule is reported with
//! the text spans (byte offsets into the original title or body) that satisfied it.
//!
//! Classification is pure: no I/O, deterministic, and it never panics on input. The only I/O
//! here is reading topic files at load time ([`Topic::load_all`]); the `eval` and `explain`
//! printers live in `cli::tools`.

mod matcher;
mod query;
mod text;

pub use text::Field;

use matcher::{Evaluator, ListError, Node, Occ, Program};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The topics shipped in the binary: `id = "<one of these>"` alone selects them.
const BUILTIN_TOPICS: &[(&str, &str)] = &[
    ("us-russia-talks", include_str!("../config/topics/us-russia-talks.toml")),
    ("us-china-trade-talks", include_str!("../config/topics/us-china-trade-talks.toml")),
];

/// The threshold used when a topic gives none.
pub const DEFAULT_THRESHOLD: f64 = 0.5;

/// The longest snippet, in characters.
pub const SNIPPET_CHARS: usize = 300;

/// One `[[topics]]` entry of the config, as written; a topic file has the same keys except
/// `file`.
///
/// Three ways to define a topic:
/// - `id` alone (optionally with `threshold`/`name`): a topic shipped in the binary;
/// - `file = "topics/x.toml"` (relative to the config file's directory): a topic file;
/// - inline `query` and/or `rules`, with `lists` and `threshold`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    /// The topic's id, used in alerts and on the command line.
    pub id: String,
    /// A topic file, relative to the config file's directory.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// A human-readable name (defaults to the id).
    #[serde(default)]
    pub name: Option<String>,
    /// What the topic is about, for people reading the config.
    #[serde(default)]
    pub description: Option<String>,
    /// Score in `[0, 1]` from which a document matches (default 0.5). Overrides the file's.
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Named term lists, used in queries as `@name`.
    #[serde(default)]
    pub lists: Option<BTreeMap<String, Vec<String>>>,
    /// Named queries, usable inside other queries as `@name` (like a list).
    #[serde(default)]
    pub queries: Option<BTreeMap<String, String>>,
    /// A single query; the same as one rule with weight 1.
    #[serde(default)]
    pub query: Option<String>,
    /// Weighted rules.
    #[serde(default)]
    pub rules: Option<Vec<RuleSpec>>,
    /// What a later matching item of a story already alerted does: `"update"` (default) or
    /// `"suppress"`. Read by `config` (stories), not by the classifier.
    #[serde(default)]
    pub on_same_story: Option<String>,
    /// At most one update alert per story per this long (default `"1h"`). Read by `config`.
    #[serde(default)]
    pub update_every: Option<String>,
}

/// One weighted rule of a topic, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Shown in explanations; defaults to the query.
    #[serde(default)]
    pub name: Option<String>,
    /// The query (see the README, "Topics").
    pub query: String,
    /// In `[-1, 1]`, not 0: positive rules add evidence (noisy-OR), negative rules multiply the
    /// evidence they explain by `1 - |weight|`.
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// Negative rules only: what the rule discounts. `mention` (the default): only the positive
    /// rules whose every match lies in a sentence this rule matched; `item`: every positive rule.
    #[serde(default)]
    pub scope: Option<NegativeScope>,
}

/// What a negative rule discounts (see [`RuleSpec::scope`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NegativeScope {
    /// The positive evidence in the sentences the negative rule matched.
    #[default]
    Mention,
    /// The whole item.
    Item,
}

fn default_weight() -> f64 {
    1.0
}

/// A problem with a topic definition, naming the topic, the file, the key and the reason.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{location}: {reason}")]
pub struct TopicError {
    /// e.g. `topics[0].query` or `config/topics/x.toml: rules[2].query`
    pub location: String,
    /// What is wrong; for query syntax errors the topic, the column and what was expected.
    pub reason: String,
}

/// The text to classify.
#[derive(Debug, Clone, Copy)]
pub struct Document<'a> {
    pub title: &'a str,
    pub body: &'a str,
}

/// A piece of the original text that satisfied a clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub field: Field,
    /// Byte offsets into the original title or body.
    pub start: usize,
    pub end: usize,
    /// The original text of the span.
    pub text: String,
}

/// A rule that matched, with its evidence.
#[derive(Debug, Clone)]
pub struct ClauseMatch {
    /// The rule's name.
    pub name: Arc<str>,
    /// The rule's query as written.
    pub query: Arc<str>,
    /// The rule's weight (negative for negative evidence).
    pub weight: f64,
    /// The spans that satisfied it, in text order (at most [`MAX_SPANS_PER_CLAUSE`]).
    pub spans: Vec<Span>,
}

/// The most bytes of a body that are classified: the text from its start, cut at a character
/// boundary; the rest is ignored.
///
/// Why this is safe for recall: news writing puts the event in the headline and the opening
/// paragraphs, and the rules look for it there; 64 KiB is about 10,000 words, several times a
/// long article (the longest item of the shared relevance sets is under 5 KB). Past it, a page
/// is an archive, a live blog or an attack, and classifying it whole would let one input take
/// seconds of CPU. Together with the cap on occurrences per term
/// (`matcher::MAX_OCCURRENCES_PER_TERM`) it bounds the work per item whatever the input.
pub const MAX_CLASSIFIED_BYTES: usize = 64 * 1024;

/// The most bytes of a title that are classified (a real headline is under 300).
pub const MAX_CLASSIFIED_TITLE_BYTES: usize = 2 * 1024;

/// The longest prefix of `text` of at most `max` bytes that ends at a character boundary.
fn prefix_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The most spans kept per clause.
pub const MAX_SPANS_PER_CLAUSE: usize = 12;

/// The verdict of one topic on one document, with its explanation.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub topic: String,
    /// In `[0, 1]`.
    pub score: f64,
    /// `score >= threshold`.
    pub matched: bool,
    /// Human-readable reasons, strongest first (the alert's `matched`).
    pub reasons: Vec<String>,
    /// Up to ~300 characters around the strongest evidence (the alert's `snippet`).
    pub snippet: String,
    /// The matched rules, strongest first (positive rules by weight, then negative ones).
    pub clauses: Vec<ClauseMatch>,
    /// The topic's threshold, for display.
    pub threshold: f64,
}

#[derive(Debug)]
struct Rule {
    name: Arc<str>,
    query: Arc<str>,
    weight: f64,
    scope: NegativeScope,
    node: Node,
    positive_leaves: Vec<usize>,
    /// Leaves of which one must occur for the rule to match (see
    /// [`Program::required_leaves`]); checked before the rule is evaluated: every set must
    /// have a leaf that occurs.
    required: Vec<Vec<usize>>,
}

#[derive(Debug)]
struct Compiled {
    program: Program,
    rules: Vec<Rule>,
}

/// A compiled topic, ready to classify. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Topic {
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Score from which a document matches.
    pub threshold: f64,
    compiled: Arc<Compiled>,
}

/// Where a definition came from, for error locations.
enum Origin {
    Inline { index: usize },
    File { label: String },
}

impl Origin {
    fn at(&self, key: &str) -> String {
        match self {
            Origin::Inline { index } => format!("topics[{index}].{key}"),
            Origin::File { label } => format!("{label}: {key}"),
        }
    }
}

fn has_inline_definition(spec: &TopicSpec) -> bool {
    spec.lists.is_some() || spec.queries.is_some() || spec.query.is_some() || spec.rules.is_some()
}

/// Ids of the topics shipped in the binary.
pub fn builtin_topic_ids() -> impl Iterator<Item = &'static str> {
    BUILTIN_TOPICS.iter().map(|(id, _)| *id)
}

impl Topic {
    /// Compiles every configured topic; `config_dir` is where relative topic files are found.
    /// Collects every problem of every topic.
    pub fn load_all(specs: &[TopicSpec], config_dir: &Path) -> Result<Vec<Topic>, Vec<TopicError>> {
        let mut topics = Vec::new();
        let mut errors = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            if let Some(first) = specs[..index].iter().position(|other| other.id == spec.id) {
                errors.push(TopicError {
                    location: format!("topics[{index}].id"),
                    reason: format!("\"{}\" is already used by topics[{first}]", spec.id),
                });
                continue;
            }
            match Topic::load(index, spec, config_dir) {
                Ok(topic) => topics.push(topic),
                Err(mut problems) => errors.append(&mut problems),
            }
        }
        if errors.is_empty() { Ok(topics) } else { Err(errors) }
    }

    /// Compiles one shipped topic by id (for tools and tests).
    pub fn builtin(id: &str) -> Result<Topic, Vec<TopicError>> {
        let spec = TopicSpec { id: id.to_string(), ..TopicSpec::default() };
        Topic::load(0, &spec, Path::new("."))
    }

    fn load(index: usize, spec: &TopicSpec, config_dir: &Path) -> Result<Topic, Vec<TopicError>> {
        let error = |location: String, reason: String| vec![TopicError { location, reason }];
        if spec.id.trim().is_empty() {
            return Err(error(format!("topics[{index}].id"), "must not be empty".into()));
        }
        let inline = has_inline_definition(spec);
        let (definition, origin) = if let Some(file) = &spec.file {
            if inline {
                return Err(error(
                    format!("topics[{index}]"),
                    "give either `file` or an inline definition (`query`, `rules`, `lists`), \
                     not both"
                        .into(),
                ));
            }
            let path = config_dir.join(file);
            let label = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|source| {
                error(format!("topics[{index}].file"), format!("cannot read {label}: {source}"))
            })?;
            (parse_topic_file(&text, &label, &spec.id)?, Origin::File { label })
        } else if inline {
            (spec.clone(), Origin::Inline { index })
        } else {
            let Some((_, text)) = BUILTIN_TOPICS.iter().find(|(id, _)| *id == spec.id) else {
                let shipped: Vec<&str> = builtin_topic_ids().collect();
                return Err(error(
                    format!("topics[{index}]"),
                    format!(
                        "topic \"{}\" has no definition: give `file`, `query` or `rules`, or use a \
                         shipped topic ({})",
                        spec.id,
                        shipped.join(", ")
                    ),
                ));
            };
            let label = format!("config/topics/{}.toml (built in)", spec.id);
            (parse_topic_file(text, &label, &spec.id)?, Origin::File { label })
        };
        let threshold = spec.threshold.or(definition.threshold).unwrap_or(DEFAULT_THRESHOLD);
        let threshold_origin = if spec.threshold.is_some() { &Origin::Inline { index } } else { &origin };
        let mut problems = Vec::new();
        if !(0.0..=1.0).contains(&threshold) {
            problems.push(TopicError {
                location: threshold_origin.at("threshold"),
                reason: format!("{threshold} is not between 0 and 1"),
            });
        }
        let name = spec.name.clone().or(definition.name.clone()).unwrap_or_else(|| spec.id.clone());
        let compiled = compile_definition(&spec.id, &definition, &origin, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Topic { id: spec.id.clone(), name, threshold, compiled: Arc::new(compiled) })
    }
}

fn parse_topic_file(text: &str, label: &str, id: &str) -> Result<TopicSpec, Vec<TopicError>> {
    let error = |location: String, reason: String| vec![TopicError { location, reason }];
    // A topic file's `id` is optional; its other keys are those of an inline definition.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TopicFile {
        #[serde(default)]
        id: Option<String>,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        description: Option<String>,
        #[serde(default)]
        threshold: Option<f64>,
        #[serde(default)]
        lists: Option<BTreeMap<String, Vec<String>>>,
        #[serde(default)]
        queries: Option<BTreeMap<String, String>>,
        #[serde(default)]
        query: Option<String>,
        #[serde(default)]
        rules: Option<Vec<RuleSpec>>,
    }
    let file: TopicFile = toml::from_str(text)
        .map_err(|source| error(label.to_string(), source.to_string().trim_end().replace('\n', " ")))?;
    if let Some(file_id) = &file.id
        && file_id != id
    {
        return Err(error(
            format!("{label}: id"),
            format!("\"{file_id}\" does not match the configured topic id \"{id}\""),
        ));
    }
    Ok(TopicSpec {
        id: id.to_string(),
        file: None,
        name: file.name,
        description: file.description,
        threshold: file.threshold,
        lists: file.lists,
        queries: file.queries,
        query: file.query,
        rules: file.rules,
        on_same_story: None,
        update_every: None,
    })
}

fn is_positive(expr: &query::Expr) -> bool {
    use query::Expr;
    match expr {
        Expr::Term { .. } | Expr::Near { .. } => true,
        Expr::Without { left, .. } => is_positive(left),
        Expr::And(items) => items.iter().any(is_positive),
        Expr::Or(items) => items.iter().all(is_positive),
        Expr::Not { .. } => false,
        Expr::Scoped { inner, .. } => is_positive(inner),
    }
}

fn compile_definition(
    id: &str,
    definition: &TopicSpec,
    origin: &Origin,
    problems: &mut Vec<TopicError>,
) -> Compiled {
    let lists = definition.lists.clone().unwrap_or_default();
    let queries = definition.queries.clone().unwrap_or_default();
    for name in queries.keys() {
        if lists.contains_key(name) {
            problems.push(TopicError {
                location: origin.at(&format!("queries.{name}")),
                reason: format!("topic \"{id}\": @{name} is both a list and a query"),
            });
        }
    }
    for (name, text) in &queries {
        if let Err(error) = query::parse(text) {
            problems.push(TopicError {
                location: origin.at(&format!("queries.{name}")),
                reason: format!("syntax error in topic \"{id}\" at {}", error.render(text)),
            });
        }
    }
    let mut program = Program::new(lists, queries);
    for problem in program.check_lists() {
        let ListError { list, index, message } = problem;
        problems.push(TopicError {
            location: origin.at(&format!("lists.{list}[{index}]")),
            reason: format!("topic \"{id}\": {message}"),
        });
    }
    let mut written: Vec<(String, RuleSpec)> = Vec::new();
    if let Some(query) = &definition.query {
        written.push((
            String::new(),
            RuleSpec { name: Some("query".into()), query: query.clone(), weight: 1.0, scope: None },
        ));
    }
    for (index, rule) in definition.rules.iter().flatten().enumerate() {
        written.push((format!("rules[{index}]."), rule.clone()));
    }
    if written.is_empty() {
        problems.push(TopicError {
            location: origin.at("rules"),
            reason: format!("topic \"{id}\" has no `query` and no `rules`"),
        });
    }
    let mut rules = Vec::new();
    for (key, rule) in written {
        if !(-1.0..=1.0).contains(&rule.weight) || rule.weight == 0.0 {
            problems.push(TopicError {
                location: origin.at(&format!("{key}weight")),
                reason: format!("{} is not in [-1, 1] or is 0", rule.weight),
            });
            continue;
        }
        if rule.weight > 0.0 && rule.scope.is_some() {
            problems.push(TopicError {
                location: origin.at(&format!("{key}scope")),
                reason: "only a negative rule has a scope (what it discounts)".into(),
            });
            continue;
        }
        let syntax = |error: query::SyntaxError| TopicError {
            location: origin.at(&format!("{key}query")),
            reason: format!("syntax error in topic \"{id}\" at {}", error.render(&rule.query)),
        };
        let expr = match query::parse(&rule.query) {
            Ok(expr) => expr,
            Err(error) => {
                problems.push(syntax(error));
                continue;
            }
        };
        if !is_positive(&expr) {
            problems.push(TopicError {
                location: origin.at(&format!("{key}query")),
                reason: format!("topic \"{id}\": the query only excludes (NOT); add a term it must contain"),
            });
            continue;
        }
        let mut positive_leaves = Vec::new();
        match program.compile(&expr, None, &mut positive_leaves) {
            Ok(node) => {
                positive_leaves.sort_unstable();
                positive_leaves.dedup();
                rules.push(Rule {
                    name: rule.name.clone().unwrap_or_else(|| rule.query.clone()).into(),
                    query: rule.query.as_str().into(),
                    weight: rule.weight,
                    scope: rule.scope.unwrap_or_default(),
                    node,
                    positive_leaves,
                    required: Vec::new(),
                });
            }
            Err(error) => problems.push(syntax(error)),
        }
    }
    program.finish();
    for rule in &mut rules {
        rule.required = program.required_sets(&rule.node);
    }
    Compiled { program, rules }
}

/// A matched rule during classification.
struct Hit<'a> {
    rule: &'a Rule,
    roots: &'a [Occ],
}

impl Topic {
    /// Scores a document against this topic and explains the verdict, match or not (for
    /// `explain`, `eval` and tests).
    pub fn classify(&self, doc: &Document<'_>) -> Verdict {
        self.classify_explaining(doc, true)
    }

    /// What the daemon applies to every item: the score, and the explanation (reasons, snippet,
    /// clauses) only of a match, the only verdict an alert is built from. A verdict that does
    /// not match carries its score and nothing else; its score and `matched` are those of
    /// [`Topic::classify`].
    pub fn judge(&self, doc: &Document<'_>) -> Verdict {
        self.classify_explaining(doc, false)
    }

    fn classify_explaining(&self, doc: &Document<'_>, explain_all: bool) -> Verdict {
        let doc = &Document {
            title: prefix_bytes(doc.title, MAX_CLASSIFIED_TITLE_BYTES),
            body: prefix_bytes(doc.body, MAX_CLASSIFIED_BYTES),
        };
        let tokens = text::tokenize(doc.title, doc.body);
        let compiled = &*self.compiled;
        let leaves = compiled.program.match_leaves(&tokens, [doc.title, doc.body]);
        let mut evaluator = Evaluator::new(&compiled.program, &leaves, &tokens);
        // Positive rules first: when none holds the score is 0 whatever the negative rules
        // say, so the daemon's path skips them (an explanation lists them, so `classify`
        // does not). The order of `hits` is settled by the sort below, not by this loop.
        let mut found: Vec<(&Rule, matcher::Occs<'_>)> = Vec::new();
        for positive in [true, false] {
            if !positive && found.is_empty() && !explain_all {
                break;
            }
            for rule in compiled.rules.iter().filter(|rule| (rule.weight > 0.0) == positive) {
                if !rule.required.iter().all(|set| leaves.any(set)) {
                    continue;
                }
                if let Some(roots) = evaluator.evaluate(&rule.node) {
                    found.push((rule, roots));
                }
            }
        }
        let mut hits: Vec<Hit<'_>> =
            found.iter().map(|&(rule, roots)| Hit { rule, roots: evaluator.get(roots) }).collect();
        let score = combine(&hits, &tokens);
        let matched = score >= self.threshold && score > 0.0;
        if !matched && !explain_all {
            return Verdict {
                topic: self.id.clone(),
                score,
                matched,
                reasons: Vec::new(),
                snippet: String::new(),
                clauses: Vec::new(),
                threshold: self.threshold,
            };
        }
        // Strongest first: positive rules by weight, then negative ones by strength; the
        // sort is stable, so equal weights keep the topic file's order.
        hits.sort_by(|a, b| {
            let rank = |weight: f64| {
                if weight > 0.0 { (0, -weight) } else { (1, weight) }
            };
            rank(a.rule.weight).partial_cmp(&rank(b.rule.weight)).unwrap_or(std::cmp::Ordering::Equal)
        });
        let field_text = |field: Field| match field {
            Field::Title => doc.title,
            Field::Body => doc.body,
        };
        let clauses: Vec<ClauseMatch> = hits
            .iter()
            .map(|hit| ClauseMatch {
                name: hit.rule.name.clone(),
                query: hit.rule.query.clone(),
                weight: hit.rule.weight,
                spans: clause_spans(hit, &leaves, &tokens, &field_text),
            })
            .collect();
        let reasons = clauses.iter().map(reason).collect();
        // The alert already carries the title: the snippet is the body sentence holding the
        // strongest evidence found in the body, and the title only when no evidence is there.
        let positive = || hits.iter().filter(|hit| hit.rule.weight > 0.0);
        let in_body = |occ: &&Occ| tokens.tokens[occ.start as usize].field == Field::Body;
        let evidence = positive()
            .find_map(|hit| hit.roots.iter().find(in_body).copied())
            .or_else(|| positive().find_map(|hit| hit.roots.first().copied()));
        let snippet = match evidence {
            Some(occ) => snippet_around(occ, &tokens, &field_text),
            None => plain_snippet(doc),
        };
        Verdict {
            topic: self.id.clone(),
            score,
            matched,
            reasons,
            snippet,
            clauses,
            threshold: self.threshold,
        }
    }
}

/// The score of the matched rules. Positive rules are grouped by the negative rules that explain
/// them (a negative rule explains a positive one when every match of the positive rule lies in a
/// sentence the negative rule matched, or when the negative rule's scope is the item); each
/// group's noisy-OR `1 - Π(1 - w)` is multiplied by `1 - |w|` of each of its negative rules, and
/// the groups combine by noisy-OR. With one group this is the plain noisy-OR times the
/// penalties; a negative mention never discounts evidence found elsewhere in the item.
fn combine(hits: &[Hit<'_>], tokens: &text::Tokens) -> f64 {
    let sentences = |roots: &[Occ]| -> Vec<u32> {
        let mut out: Vec<u32> = roots
            .iter()
            .flat_map(|occ| {
                [tokens.tokens[occ.start as usize].sentence, tokens.tokens[occ.end as usize - 1].sentence]
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    };
    let negatives: Vec<(&Hit<'_>, Vec<u32>)> =
        hits.iter().filter(|hit| hit.rule.weight < 0.0).map(|hit| (hit, sentences(hit.roots))).collect();
    // Group key: which negative rules explain the positive rule.
    let mut groups: Vec<(Vec<bool>, f64)> = Vec::new();
    for hit in hits.iter().filter(|hit| hit.rule.weight > 0.0) {
        let own = sentences(hit.roots);
        let key: Vec<bool> = negatives
            .iter()
            .map(|(negative, covered)| {
                negative.rule.scope == NegativeScope::Item
                    || covered.is_empty()
                    || own.iter().all(|sentence| covered.binary_search(sentence).is_ok())
            })
            .collect();
        match groups.iter_mut().find(|(existing, _)| *existing == key) {
            Some((_, keep)) => *keep *= 1.0 - hit.rule.weight,
            None => groups.push((key, 1.0 - hit.rule.weight)),
        }
    }
    let mut none = 1.0;
    for (key, keep) in groups {
        let mut evidence = 1.0 - keep;
        for ((negative, _), explains) in negatives.iter().zip(key) {
            if explains {
                evidence *= 1.0 + negative.rule.weight;
            }
        }
        none *= 1.0 - evidence;
    }
    (1.0 - none).clamp(0.0, 1.0)
}

/// The positive leaves' occurrences that lie inside the rule's matching ranges, as spans.
fn clause_spans<'a>(
    hit: &Hit<'_>,
    leaves: &matcher::LeafOccs,
    tokens: &text::Tokens,
    field_text: &dyn Fn(Field) -> &'a str,
) -> Vec<Span> {
    // The roots (sorted, as every node's occurrences are) merged into disjoint ranges.
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(hit.roots.len());
    for root in hit.roots {
        match merged.last_mut() {
            Some(last) if root.start <= last.1 => last.1 = last.1.max(root.end),
            _ => merged.push((root.start, root.end)),
        }
    }
    // Per leaf, the occurrences that start in a range and end inside it: one binary search per
    // range, so the work follows the few roots, not the leaf's every occurrence.
    let mut occs: Vec<Occ> = Vec::new();
    for &leaf in &hit.rule.positive_leaves {
        let all = leaves.get(leaf);
        if all.is_empty() {
            continue;
        }
        for &(start, end) in &merged {
            let first = all.partition_point(|occ| occ.start < start);
            occs.extend(all[first..].iter().take_while(|occ| occ.start < end).filter(|occ| occ.end <= end));
        }
    }
    occs.sort_unstable();
    occs.dedup();
    occs.truncate(MAX_SPANS_PER_CLAUSE);
    occs.iter()
        .map(|occ| {
            let first = &tokens.tokens[occ.start as usize];
            let last = &tokens.tokens[occ.end as usize - 1];
            let text = field_text(first.field);
            let (start, end) = (first.start as usize, last.end as usize);
            Span { field: first.field, start, end, text: text[start..end].to_string() }
        })
        .collect()
}

/// A rule weight as shown to people: `+0.80`, `−0.50`.
pub fn format_weight(weight: f64) -> String {
    if weight >= 0.0 { format!("+{weight:.2}") } else { format!("−{:.2}", -weight) }
}

fn reason(clause: &ClauseMatch) -> String {
    let mut out = format!("{} ({}): ", clause.name, format_weight(clause.weight));
    // The distinct span texts, at most six, each quoted once; written straight into `out`
    // (the ranges of those shown are kept to compare) to spare an allocation per span.
    let mut shown: Vec<(usize, usize)> = Vec::with_capacity(6);
    // Function words ("with", "and", "с", "и") satisfy proximity rules but explain nothing:
    // evidence shows the content words, unless a clause matched nothing else.
    let has_content = clause.spans.iter().any(|span| !is_function_word(&span.text));
    for span in clause.spans.iter().filter(|span| !has_content || !is_function_word(&span.text)) {
        let mark = out.len();
        if !shown.is_empty() {
            out.push(' ');
        }
        out.push('“');
        let start = out.len();
        push_collapsed(&mut out, &span.text);
        let end = out.len();
        if shown.iter().any(|&(from, to)| out[from..to] == out[start..end]) {
            out.truncate(mark);
            continue;
        }
        out.push('”');
        shown.push((start, end));
        if shown.len() == 6 {
            break;
        }
    }
    out
}

/// Words that carry no evidence of their own, in the topic languages (English and Russian).
const FUNCTION_WORDS: &[&str] = &[
    "a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with", "и", "в",
    "во", "на", "с", "со", "о", "об", "по", "к", "ко", "у", "за", "из", "а", "но", "или",
];

/// The longest function word, in bytes (UTF-8).
const MAX_FUNCTION_WORD_BYTES: usize = {
    let mut longest = 0;
    let mut index = 0;
    while index < FUNCTION_WORDS.len() {
        if FUNCTION_WORDS[index].len() > longest {
            longest = FUNCTION_WORDS[index].len();
        }
        index += 1;
    }
    longest
};

/// Whether a matched span is a single function word.
///
/// Called for every span of every matched rule, so it settles most spans without allocating:
/// a span longer than any function word is content, and an ASCII one is compared in place;
/// only a short non-ASCII span (Russian "и", "по") is lower-cased.
fn is_function_word(text: &str) -> bool {
    let word = text.trim();
    // Upper and lower case of the letters in the list have the same UTF-8 length.
    if word.len() > MAX_FUNCTION_WORD_BYTES || word.contains(char::is_whitespace) {
        return false;
    }
    if word.is_ascii() {
        return FUNCTION_WORDS.iter().any(|function| word.eq_ignore_ascii_case(function));
    }
    let lower = word.to_lowercase();
    FUNCTION_WORDS.contains(&lower.as_str())
}

/// Appends `text` with its whitespace collapsed to single spaces and trimmed.
fn push_collapsed(out: &mut String, text: &str) {
    for (index, word) in text.split_whitespace().enumerate() {
        if index > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
}

pub fn text_collapsed(text: &str) -> String {
    // Most spans are a word or two of plain text with single spaces: copy those as they are.
    let bytes = text.as_bytes();
    let plain = bytes.first().is_none_or(|&first| first != b' ')
        && bytes.last().is_none_or(|&last| last != b' ')
        && bytes.iter().all(|&byte| byte > b' ' && byte < 0x80 || byte == b' ')
        && !text.contains("  ");
    if plain {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for (index, word) in text.split_whitespace().enumerate() {
        if index > 0 {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The text from the start of the sentence holding `occ`, up to [`SNIPPET_CHARS`] characters,
/// moved forward when the evidence would not fit.
fn snippet_around<'a>(occ: Occ, tokens: &text::Tokens, field_text: &dyn Fn(Field) -> &'a str) -> String {
    let first = &tokens.tokens[occ.start as usize];
    let last = &tokens.tokens[occ.end as usize - 1];
    let text = field_text(first.field);
    let sentence_start = tokens
        .tokens
        .iter()
        .find(|token| token.field == first.field && token.sentence == first.sentence)
        .map_or(first.start as usize, |token| token.start as usize);
    let evidence_end = last.end as usize;
    let mut start = sentence_start;
    if text[start..evidence_end].chars().count() > SNIPPET_CHARS {
        // Keep about a third of the room before the evidence.
        let before: Vec<usize> = text[..first.start as usize].char_indices().map(|(i, _)| i).collect();
        start = before.len().checked_sub(SNIPPET_CHARS / 3).map_or(0, |index| before[index]);
    }
    cut(text, start)
}

/// Up to [`SNIPPET_CHARS`] characters of `text` from byte `start`, whitespace collapsed, cut at
/// a word boundary, with `…` where text was left out.
fn cut(text: &str, start: usize) -> String {
    let rest = &text[start..];
    let end = rest.char_indices().nth(SNIPPET_CHARS).map_or(rest.len(), |(index, _)| index);
    let mut piece = &rest[..end];
    if end < rest.len()
        && let Some(space) = piece.rfind(char::is_whitespace)
        && space > piece.len() / 2
    {
        piece = &piece[..space];
    }
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.push_str(&text_collapsed(piece));
    if piece.len() < rest.len() {
        out.push('…');
    }
    out
}

fn plain_snippet(doc: &Document<'_>) -> String {
    // `cut` reads at most SNIPPET_CHARS + 1 characters (the one more tells it text was left
    // out): copy no more than that of a long article.
    let prefix = |text: &str, chars: usize| {
        let end = text.char_indices().nth(chars).map_or(text.len(), |(index, _)| index);
        text[..end].to_string()
    };
    let joined = if doc.title.is_empty() {
        prefix(doc.body, SNIPPET_CHARS + 1)
    } else {
        prefix(&format!("{}. {}", doc.title, prefix(doc.body, SNIPPET_CHARS + 1)), SNIPPET_CHARS + 1)
    };
    cut(&joined, 0)
}

#[cfg(test)]
mod tests;
