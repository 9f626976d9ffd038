//! Compiles parsed queries into a matching program and runs it over a tokenised document.
//!
//! Every distinct word test (a stem, a prefix, a case-sensitive surface form) gets one id; every
//! distinct term (a word, a phrase, a named list, with its field scope) is one *leaf*, computed
//! once per document however many rules use it. Operators then combine the leaves'
//! occurrences (token ranges). Proximity keeps, for every occurrence of one side, only the
//! nearest occurrence of the other, so the work stays linear in the number of occurrences.

use super::query::{Distance, Expr, Scope, SyntaxError, Term};
use super::text::{Field, Stemmers, Tokens, normalise_words, surface};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A small, fast hasher for short string keys (FxHash's mixing step): the per-token lookups
/// dominate classification time and need no protection against hash flooding.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(SEED);
        }
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

/// An occurrence: a range of token indices `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Occ {
    pub start: u32,
    pub end: u32,
}

/// A compiled query node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Leaf(usize),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Near {
        left: Box<Node>,
        right: Box<Node>,
        distance: Distance,
    },
}

/// How the words of a term are compared with a document's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Same stem (the default).
    Stem,
    /// Same normalised form, not stemmed (`=word`).
    Form,
    /// Same surface form, case included (`{Word}`).
    CaseSensitive,
}

/// A sequence of word tests that must match consecutive tokens.
#[derive(Debug, Clone)]
struct Pattern(Vec<usize>);

/// A term, list or phrase with its field scope.
#[derive(Debug, Clone)]
struct Leaf {
    patterns: Vec<Pattern>,
    scope: Option<Field>,
}

/// A problem with one entry of a named list.
#[derive(Debug, Clone)]
pub(crate) struct ListError {
    pub list: String,
    pub index: usize,
    pub message: String,
}

/// Everything the topic's rules need to match a document.
#[derive(Debug, Default)]
pub(crate) struct Program {
    stemmers: Stemmers,
    /// Number of distinct word tests.
    n_words: usize,
    /// Stem → word test id.
    stems: FastMap<String, usize>,
    /// The first three characters of every stem (whole stem if shorter): a token whose start
    /// is not here cannot match any stem, so it is never stemmed.
    stem_keys: FastSet<String>,
    shortest_stem_key: usize,
    /// First two characters of a prefix → (prefix, word test id).
    prefixes: FastMap<String, Vec<(String, usize)>>,
    /// Normalised form → word test id, for unstemmed word forms (`=word`).
    forms: FastMap<String, usize>,
    /// Lower-case normalised form → (surface form, word test id) for case-sensitive words.
    exact: FastMap<String, Vec<(String, usize)>>,
    leaves: Vec<Leaf>,
    /// Deduplication of leaves: (term key, scope) → leaf id.
    leaf_ids: HashMap<(String, Option<Field>), usize>,
    /// Named lists as written, resolved on first use.
    lists: BTreeMap<String, Vec<String>>,
    /// Named queries, expanded where `@name` is used.
    queries: BTreeMap<String, String>,
    /// Named queries being expanded, to report cycles.
    expanding: Vec<String>,
}

fn first_chars(word: &str, count: usize) -> &str {
    match word.char_indices().nth(count) {
        Some((index, _)) => &word[..index],
        None => word,
    }
}

impl Program {
    /// A program whose queries may use the given named lists.
    pub fn new(lists: BTreeMap<String, Vec<String>>, queries: BTreeMap<String, String>) -> Program {
        Program {
            lists,
            queries,
            shortest_stem_key: 3,
            ..Program::default()
        }
    }

    fn word_stem(&mut self, word: &str) -> usize {
        let stem = self.stemmers.stem(word);
        if let Some(&id) = self.stems.get(&stem) {
            return id;
        }
        let id = self.n_words;
        self.n_words += 1;
        let key = first_chars(&stem, 3).to_string();
        self.shortest_stem_key = self.shortest_stem_key.min(key.chars().count());
        self.stem_keys.insert(key);
        self.stems.insert(stem, id);
        id
    }

    fn word_prefix(&mut self, prefix: &str) -> usize {
        let key = first_chars(prefix, 2).to_string();
        let entries = self.prefixes.entry(key).or_default();
        if let Some((_, id)) = entries.iter().find(|(existing, _)| existing == prefix) {
            return *id;
        }
        let id = self.n_words;
        self.n_words += 1;
        entries.push((prefix.to_string(), id));
        id
    }

    fn word_form(&mut self, word: &str) -> usize {
        if let Some(&id) = self.forms.get(word) {
            return id;
        }
        let id = self.n_words;
        self.n_words += 1;
        self.forms.insert(word.to_string(), id);
        id
    }

    fn word_exact(&mut self, text: &str) -> usize {
        let surface_form = surface(text);
        let mut lower = String::new();
        super::text::normalise_word(&surface_form, &mut lower);
        let entries = self.exact.entry(lower).or_default();
        if let Some((_, id)) = entries
            .iter()
            .find(|(existing, _)| *existing == surface_form)
        {
            return *id;
        }
        let id = self.n_words;
        self.n_words += 1;
        entries.push((surface_form, id));
        id
    }

    /// The patterns of one written term (a list entry or a query term). Errors are messages.
    fn term_patterns(&mut self, text: &str, mode: Mode, prefix: bool) -> Result<Pattern, String> {
        let exact = mode == Mode::CaseSensitive;
        let words = normalise_words(text);
        if words.is_empty() {
            return Err(format!("`{text}` has no letters or digits to match"));
        }
        if exact {
            if words.len() != 1 {
                return Err(format!("`{{{text}}}` must be a single word"));
            }
            return Ok(Pattern(vec![self.word_exact(text)]));
        }
        let last = words.len() - 1;
        let mut ids = Vec::with_capacity(words.len());
        for (index, word) in words.iter().enumerate() {
            if prefix && index == last {
                if word.chars().count() < 2 {
                    return Err(format!(
                        "`{text}*`: a wildcard needs at least two letters before `*`"
                    ));
                }
                ids.push(self.word_prefix(word));
            } else if mode == Mode::Form {
                ids.push(self.word_form(word));
            } else {
                ids.push(self.word_stem(word));
            }
        }
        Ok(Pattern(ids))
    }

    /// Parses one list entry: `@other`, `{Exact}`, `"phrase"`, `word*` or plain words.
    fn entry_patterns(
        &mut self,
        entry: &str,
        visiting: &mut Vec<String>,
        out: &mut Vec<Pattern>,
    ) -> Result<(), String> {
        let entry = entry.trim();
        if let Some(name) = entry.strip_prefix('@') {
            return self.list_patterns(name, visiting, out);
        }
        if let Some(inner) = entry.strip_prefix('{') {
            let inner = inner
                .strip_suffix('}')
                .ok_or_else(|| format!("`{entry}`: expected a closing `}}`"))?;
            out.push(self.term_patterns(inner.trim(), Mode::CaseSensitive, false)?);
            return Ok(());
        }
        if let Some(form) = entry.strip_prefix('=') {
            out.push(self.term_patterns(form.trim_matches('"'), Mode::Form, false)?);
            return Ok(());
        }
        let unquoted = entry.trim_matches('"');
        let prefix = unquoted.ends_with('*');
        let text = unquoted.trim_end_matches('*');
        if text.contains('*') {
            return Err(format!("`{entry}`: a wildcard `*` may only end the entry"));
        }
        out.push(self.term_patterns(text, Mode::Stem, prefix)?);
        Ok(())
    }

    fn list_patterns(
        &mut self,
        name: &str,
        visiting: &mut Vec<String>,
        out: &mut Vec<Pattern>,
    ) -> Result<(), String> {
        if visiting.iter().any(|seen| seen == name) {
            return Err(format!(
                "list @{name} includes itself (through {})",
                visiting.join(" → @")
            ));
        }
        let entries = self
            .lists
            .get(name)
            .cloned()
            .ok_or_else(|| format!("unknown list @{name}"))?;
        if entries.is_empty() {
            return Err(format!("list @{name} is empty"));
        }
        visiting.push(name.to_string());
        for entry in &entries {
            self.entry_patterns(entry, visiting, out)?;
        }
        visiting.pop();
        Ok(())
    }

    /// Checks every named list compiles, reporting the first bad entry of each.
    pub fn check_lists(&mut self) -> Vec<ListError> {
        let mut errors = Vec::new();
        let names: Vec<(String, Vec<String>)> = self
            .lists
            .iter()
            .map(|(name, entries)| (name.clone(), entries.clone()))
            .collect();
        for (name, entries) in names {
            if entries.is_empty() {
                errors.push(ListError {
                    list: name.clone(),
                    index: 0,
                    message: "the list is empty".into(),
                });
            }
            for (index, entry) in entries.iter().enumerate() {
                let mut visiting = vec![name.clone()];
                let mut patterns = Vec::new();
                if let Err(message) = self.entry_patterns(entry, &mut visiting, &mut patterns) {
                    errors.push(ListError {
                        list: name.clone(),
                        index,
                        message,
                    });
                }
            }
        }
        errors
    }

    fn leaf(
        &mut self,
        term: &Term,
        scope: Option<Field>,
        offset: usize,
    ) -> Result<usize, SyntaxError> {
        let key = format!("{term:?}");
        if let Some(&id) = self.leaf_ids.get(&(key.clone(), scope)) {
            return Ok(id);
        }
        let error = |message: String| SyntaxError { offset, message };
        let mut patterns = Vec::new();
        match term {
            Term::Word { text, prefix } | Term::Phrase { text, prefix } => {
                patterns.push(
                    self.term_patterns(text, Mode::Stem, *prefix)
                        .map_err(error)?,
                );
            }
            Term::Exact { text } => {
                patterns.push(
                    self.term_patterns(text, Mode::CaseSensitive, false)
                        .map_err(error)?,
                );
            }
            Term::Form { text } => {
                patterns.push(self.term_patterns(text, Mode::Form, false).map_err(error)?);
            }
            Term::List { name } => {
                let mut visiting = Vec::new();
                self.list_patterns(name, &mut visiting, &mut patterns)
                    .map_err(error)?;
            }
        }
        let id = self.leaves.len();
        self.leaves.push(Leaf { patterns, scope });
        self.leaf_ids.insert((key, scope), id);
        Ok(id)
    }

    /// Compiles a parsed query. `positive_leaves` receives the leaves not under a NOT (the ones
    /// an explanation highlights).
    pub fn compile(
        &mut self,
        expr: &Expr,
        scope: Option<Field>,
        positive_leaves: &mut Vec<usize>,
    ) -> Result<Node, SyntaxError> {
        Ok(match expr {
            Expr::Term {
                term: Term::List { name },
                offset,
            } if self.queries.contains_key(name) => {
                self.expand_query(name, *offset, scope, positive_leaves)?
            }
            Expr::Term { term, offset } => {
                let id = self.leaf(term, scope, *offset)?;
                positive_leaves.push(id);
                Node::Leaf(id)
            }
            Expr::Scoped {
                scope: written,
                inner,
                ..
            } => {
                let field = match written {
                    Scope::Title => Field::Title,
                    Scope::Body => Field::Body,
                };
                self.compile(inner, Some(field), positive_leaves)?
            }
            Expr::And(items) => {
                if items.iter().all(|item| matches!(item, Expr::Not { .. })) {
                    return Err(SyntaxError {
                        offset: first_offset(expr),
                        message: "NOT needs a positive term beside it (e.g. `talks NOT ukraine`)"
                            .into(),
                    });
                }
                let mut nodes = Vec::with_capacity(items.len());
                for item in items {
                    nodes.push(self.compile(item, scope, positive_leaves)?);
                }
                Node::And(nodes)
            }
            Expr::Or(items) => {
                let mut nodes = Vec::with_capacity(items.len());
                for item in items {
                    if let Expr::Not { offset, .. } = item {
                        return Err(SyntaxError {
                            offset: *offset,
                            message: "NOT cannot be an alternative of OR; use `a NOT b`".into(),
                        });
                    }
                    nodes.push(self.compile(item, scope, positive_leaves)?);
                }
                Node::Or(nodes)
            }
            Expr::Not { inner, .. } => {
                // Leaves under NOT are never highlighted: they did not match.
                let mut ignored = Vec::new();
                Node::Not(Box::new(self.compile(inner, scope, &mut ignored)?))
            }
            Expr::Near {
                left,
                right,
                distance,
                offset,
            } => {
                for side in [left, right] {
                    if let Expr::Not { .. } = **side {
                        return Err(SyntaxError {
                            offset: *offset,
                            message: format!(
                                "{distance} needs positive terms on both sides, not NOT"
                            ),
                        });
                    }
                }
                Node::Near {
                    left: Box::new(self.compile(left, scope, positive_leaves)?),
                    right: Box::new(self.compile(right, scope, positive_leaves)?),
                    distance: *distance,
                }
            }
        })
    }

    /// Compiles a named query where `@name` is used; errors inside it are reported at the use.
    fn expand_query(
        &mut self,
        name: &str,
        offset: usize,
        scope: Option<Field>,
        positive_leaves: &mut Vec<usize>,
    ) -> Result<Node, SyntaxError> {
        let at_use = |message: String| SyntaxError { offset, message };
        if self.expanding.iter().any(|seen| seen == name) {
            return Err(at_use(format!("query @{name} uses itself")));
        }
        let text = self.queries.get(name).cloned().unwrap_or_default();
        let expr = super::query::parse(&text)
            .map_err(|error| at_use(format!("in @{name}: {}", error.render(&text))))?;
        self.expanding.push(name.to_string());
        let node = self.compile(&expr, scope, positive_leaves);
        self.expanding.pop();
        node.map_err(|error| {
            if error.message.starts_with("in @") {
                at_use(error.message)
            } else {
                at_use(format!("in @{name}: {}", error.render(&text)))
            }
        })
    }

    /// Finds every leaf's occurrences in a document.
    pub fn match_leaves(&self, tokens: &Tokens, originals: [&str; 2]) -> Vec<Vec<Occ>> {
        let mut postings: Vec<Vec<u32>> = vec![Vec::new(); self.n_words];
        for (index, token) in tokens.tokens.iter().enumerate() {
            let word = tokens.norm(index);
            let position = index as u32;
            if self.could_have_stem(word) {
                let stem = self.stemmers.stem(word);
                if let Some(&id) = self.stems.get(&stem) {
                    postings[id].push(position);
                }
            }
            if let Some(&id) = self.forms.get(word) {
                postings[id].push(position);
            }
            if !self.prefixes.is_empty()
                && let Some(entries) = self.prefixes.get(first_chars(word, 2))
            {
                for (prefix, id) in entries {
                    if word.starts_with(prefix.as_str()) {
                        postings[*id].push(position);
                    }
                }
            }
            if !self.exact.is_empty()
                && let Some(entries) = self.exact.get(word)
            {
                let original = match token.field {
                    Field::Title => originals[0],
                    Field::Body => originals[1],
                };
                let written = surface(&original[token.start as usize..token.end as usize]);
                for (surface_form, id) in entries {
                    if *surface_form == written {
                        postings[*id].push(position);
                    }
                }
            }
        }
        self.leaves
            .iter()
            .map(|leaf| {
                let mut occs = Vec::new();
                for pattern in &leaf.patterns {
                    collect_pattern(pattern, &postings, tokens, leaf.scope, &mut occs);
                }
                if leaf.patterns.len() > 1 {
                    occs.sort_unstable();
                    occs.dedup();
                }
                occs
            })
            .collect()
    }

    fn could_have_stem(&self, word: &str) -> bool {
        if self.stem_keys.contains(first_chars(word, 3)) {
            return true;
        }
        // Stems shorter than three letters (`us`) are keyed by themselves.
        (self.shortest_stem_key..3).any(|count| self.stem_keys.contains(first_chars(word, count)))
    }
}

fn first_offset(expr: &Expr) -> usize {
    match expr {
        Expr::Term { offset, .. } | Expr::Not { offset, .. } | Expr::Scoped { offset, .. } => {
            *offset
        }
        Expr::Near { left, .. } => first_offset(left),
        Expr::And(items) | Expr::Or(items) => items.first().map_or(0, first_offset),
    }
}

fn collect_pattern(
    pattern: &Pattern,
    postings: &[Vec<u32>],
    tokens: &Tokens,
    scope: Option<Field>,
    out: &mut Vec<Occ>,
) {
    let Some((&first, rest)) = pattern.0.split_first() else {
        return;
    };
    'start: for &position in &postings[first] {
        let field = tokens.tokens[position as usize].field;
        if scope.is_some_and(|wanted| wanted != field) {
            continue;
        }
        for (step, &word) in rest.iter().enumerate() {
            let next = position + 1 + step as u32;
            let same_field = tokens
                .tokens
                .get(next as usize)
                .is_some_and(|token| token.field == field);
            if !same_field || postings[word].binary_search(&next).is_err() {
                continue 'start;
            }
        }
        out.push(Occ {
            start: position,
            end: position + 1 + rest.len() as u32,
        });
    }
}

/// Number of words between two occurrences (0 when they touch or overlap).
fn gap(a: Occ, b: Occ) -> u32 {
    if a.end <= b.start {
        b.start - a.end
    } else {
        a.start.saturating_sub(b.end)
    }
}

fn union(mut a: Vec<Occ>, b: Vec<Occ>) -> Vec<Occ> {
    if a.is_empty() {
        return b;
    }
    a.extend(b);
    a.sort_unstable();
    a.dedup();
    a
}

/// For every occurrence in `from`, the nearest occurrence in `to` within reach, merged.
fn nearest_pairs(
    from: &[Occ],
    to: &[Occ],
    distance: Distance,
    from_is_left: bool,
    tokens: &Tokens,
    out: &mut Vec<Occ>,
) {
    let token = |index: u32| &tokens.tokens[index as usize];
    for &a in from {
        let field = token(a.start).field;
        let (first_sentence, last_sentence) = (token(a.start).sentence, token(a.end - 1).sentence);
        // Proximity never reaches across a sentence (or field) boundary.
        let reachable = |b: Occ| {
            token(b.start).field == field
                && token(b.start).sentence == first_sentence
                && token(b.end - 1).sentence == last_sentence
                && match distance {
                    Distance::Words(n) | Distance::Before(n) => gap(a, b) <= n,
                    Distance::Sentence => true,
                }
        };
        // PRE/n: the left side must end before the right side starts.
        let in_order = |b: Occ| match distance {
            Distance::Before(_) if from_is_left => a.end <= b.start,
            Distance::Before(_) => b.end <= a.start,
            _ => true,
        };
        let split = to.partition_point(|b| b.start < a.start);
        let mut best: Option<Occ> = None;
        let mut consider = |b: Occ| {
            if in_order(b) && best.is_none_or(|current| gap(a, b) < gap(a, current)) {
                best = Some(b);
            }
        };
        // Walk outwards in both directions until the other side is out of reach.
        for &b in to[split..].iter() {
            if !reachable(b) {
                break;
            }
            consider(b);
            if b.start >= a.end && in_order(b) {
                break;
            }
        }
        for &b in to[..split].iter().rev() {
            if !reachable(b) {
                break;
            }
            consider(b);
            if b.end <= a.start && in_order(b) {
                break;
            }
        }
        if let Some(b) = best {
            out.push(Occ {
                start: a.start.min(b.start),
                end: a.end.max(b.end),
            });
        }
    }
}

/// Evaluates a node: `None` when it does not hold; otherwise the occurrences that satisfy it
/// (empty for a satisfied NOT).
pub(crate) fn evaluate(node: &Node, leaves: &[Vec<Occ>], tokens: &Tokens) -> Option<Vec<Occ>> {
    match node {
        Node::Leaf(id) => {
            let occs = &leaves[*id];
            (!occs.is_empty()).then(|| occs.clone())
        }
        Node::And(items) => {
            let mut all = Vec::new();
            for item in items {
                all = union(all, evaluate(item, leaves, tokens)?);
            }
            Some(all)
        }
        Node::Or(items) => {
            let mut all: Option<Vec<Occ>> = None;
            for item in items {
                if let Some(occs) = evaluate(item, leaves, tokens) {
                    all = Some(match all {
                        None => occs,
                        Some(previous) => union(previous, occs),
                    });
                }
            }
            all
        }
        Node::Not(inner) => match evaluate(inner, leaves, tokens) {
            Some(_) => None,
            None => Some(Vec::new()),
        },
        Node::Near {
            left,
            right,
            distance,
        } => {
            let left = evaluate(left, leaves, tokens)?;
            let right = evaluate(right, leaves, tokens)?;
            let mut out = Vec::new();
            nearest_pairs(&left, &right, *distance, true, tokens, &mut out);
            nearest_pairs(&right, &left, *distance, false, tokens, &mut out);
            if out.is_empty() {
                return None;
            }
            out.sort_unstable();
            out.dedup();
            Some(out)
        }
    }
}
