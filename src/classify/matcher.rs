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

/// Every leaf's occurrences in one document, sorted and deduplicated per leaf.
#[derive(Debug, Default)]
pub(crate) struct LeafOccs {
    occs: Vec<Occ>,
    /// Per leaf, its range of `occs`.
    ranges: Vec<(u32, u32)>,
}

impl LeafOccs {
    /// Whether any of `leaves` occurs.
    pub fn any(&self, leaves: &[usize]) -> bool {
        leaves.iter().any(|&leaf| self.ranges[leaf].0 < self.ranges[leaf].1)
    }

    /// The occurrences of leaf `leaf`.
    pub fn get(&self, leaf: usize) -> &[Occ] {
        let (start, end) = self.ranges[leaf];
        &self.occs[start as usize..end as usize]
    }
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
    /// The left side's occurrences with no right-side occurrence within `distance`.
    Without {
        left: Box<Node>,
        right: Box<Node>,
        distance: Distance,
    },
    /// A named query, compiled once and evaluated once per document however often it is used.
    Shared(usize),
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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Pattern(Vec<usize>);

/// A term, list or phrase with its field scope.
#[derive(Debug, Clone)]
struct Leaf {
    patterns: Vec<Pattern>,
    scope: Option<Scope>,
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
    /// The first three characters (or fewer, for short words) of every form, exact word, stem
    /// key and wildcard prefix: a word whose start is not here matches nothing.
    heads: FastSet<String>,
    shortest_stem_key: usize,
    /// First two characters of a prefix → (prefix, word test id).
    prefixes: FastMap<String, Vec<(String, usize)>>,
    /// Normalised form → word test id, for unstemmed word forms (`=word`).
    forms: FastMap<String, usize>,
    /// Lower-case normalised form → (surface form, word test id) for case-sensitive words.
    exact: FastMap<String, Vec<(String, usize)>>,
    leaves: Vec<Leaf>,
    /// Deduplication of leaves: (term key, scope) → leaf id.
    leaf_ids: HashMap<(String, Option<Scope>), usize>,
    /// Deduplication of leaves by what they match: (sorted patterns, scope) → leaf id.
    leaf_by_patterns: HashMap<(Vec<Pattern>, Option<Scope>), usize>,
    /// Named lists as written, resolved on first use.
    lists: BTreeMap<String, Vec<String>>,
    /// Named queries, expanded where `@name` is used.
    queries: BTreeMap<String, String>,
    /// Named queries being expanded, to report cycles.
    expanding: Vec<String>,
    /// Compiled named queries (by name and scope) and the leaves they highlight.
    shared: Vec<Node>,
    shared_positive_leaves: Vec<Vec<usize>>,
    shared_ids: HashMap<(String, Option<Scope>), usize>,
    /// Built by [`Program::finish`]: every distinct pattern once and the leaves that contain
    /// it, and a trie of the patterns by word test, so matching a document follows only the
    /// patterns that its words continue, one token at a time.
    unique_patterns: Vec<Pattern>,
    pattern_leaves: Vec<Vec<usize>>,
    trie: Vec<TrieNode>,
    /// Per word test, the trie node of the patterns starting with it (`NO_NODE`: none).
    trie_roots: Vec<u32>,
    /// Identifies this program in the per-thread cache of word tests.
    cache_key: u64,
}

/// A node of the pattern trie: the patterns that end here, and the next word tests.
#[derive(Debug, Clone, Default)]
struct TrieNode {
    /// (word test, child node), sorted by word test.
    children: Vec<(u32, u32)>,
    /// Unique pattern ids that end at this node.
    patterns: Vec<u32>,
}

const NO_NODE: u32 = u32::MAX;

/// The word tests of the words a program has seen on this thread, kept across documents:
/// most words of a news item ("Russia", "talks", "said") were seen in the items before it, and
/// looking one up costs one hash probe instead of a stem and several probes.
#[derive(Default)]
struct WordCache {
    /// Normalised word → (range of `pool`, whether it has case-sensitive entries).
    words: FastMap<Box<str>, (u32, u32, bool)>,
    pool: Vec<u32>,
}

/// Words cached per program and thread before the cache starts over (a few MB at most).
const WORD_CACHE_WORDS: usize = 50_000;

/// Programs cached per thread before the cache starts over (a daemon has one per topic).
const WORD_CACHE_PROGRAMS: usize = 16;

thread_local! {
    static WORD_CACHES: std::cell::RefCell<FastMap<u64, WordCache>> =
        std::cell::RefCell::new(FastMap::default());
}

static NEXT_CACHE_KEY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The most occurrences of one term (leaf) that rules see: its first ones, in text order.
///
/// Why this is safe for recall: the evidence of a story is in its headline and first
/// paragraphs, and a term that occurs more often than this within the classified text (see
/// `MAX_CLASSIFIED_BYTES`, about 10,000 words) is repeated page furniture or an attack, not
/// prose; the rules only ask whether a term occurs near another, which its first occurrences
/// answer. With the cap, every operator's work is bounded by a constant per term, whatever the
/// input (issue 11: a page repeating one matching sentence took seconds to classify).
pub(crate) const MAX_OCCURRENCES_PER_TERM: usize = 512;

/// Stems are indexed by their first characters (at most this many) to skip words that cannot
/// match without stemming them.
const STEM_KEY_CHARS: usize = 5;

/// Length of the [`Program::heads`] keys; also the shortest wildcard prefix and stem.
const HEAD_CHARS: usize = 3;

/// Words of at most this many characters are matched as written, not stemmed.
const SHORT_WORD_CHARS: usize = 3;

fn first_chars(word: &str, count: usize) -> &str {
    match word.char_indices().nth(count) {
        Some((index, _)) => &word[..index],
        None => word,
    }
}

impl Program {
    /// A program whose queries may use the given named lists.
    pub fn new(lists: BTreeMap<String, Vec<String>>, queries: BTreeMap<String, String>) -> Program {
        Program { lists, queries, shortest_stem_key: 3, ..Program::default() }
    }

    fn word_stem(&mut self, word: &str) -> usize {
        let stem = self.stemmers.stem(word);
        if stem.chars().count() < HEAD_CHARS {
            return self.word_form(word);
        }
        if let Some(&id) = self.stems.get(&stem) {
            return id;
        }
        let id = self.n_words;
        self.n_words += 1;
        // Stems are mostly prefixes of the words they come from, except that the English
        // stemmer turns a final `y` into `i` ("secretary" → "secretari") and has exceptional
        // forms ("during" → "dure"): key the stem, the stem without `i` and the word itself.
        let mut keys = vec![first_chars(&stem, STEM_KEY_CHARS).to_string()];
        if let Some(without_i) = stem.strip_suffix('i') {
            keys.push(first_chars(without_i, STEM_KEY_CHARS).to_string());
        }
        keys.push(first_chars(word, STEM_KEY_CHARS).to_string());
        for key in keys {
            self.shortest_stem_key = self.shortest_stem_key.min(key.chars().count().max(1));
            self.heads.insert(first_chars(&key, HEAD_CHARS).to_string());
            self.stem_keys.insert(key);
        }
        self.stems.insert(stem, id);
        id
    }

    fn word_prefix(&mut self, prefix: &str) -> usize {
        let key = first_chars(prefix, HEAD_CHARS).to_string();
        self.heads.insert(key.clone());
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
        self.heads.insert(first_chars(word, HEAD_CHARS).to_string());
        self.forms.insert(word.to_string(), id);
        id
    }

    fn word_exact(&mut self, text: &str) -> usize {
        let surface_form = surface(text);
        let mut lower = String::new();
        super::text::normalise_word(&surface_form, &mut lower);
        self.heads.insert(first_chars(&lower, HEAD_CHARS).to_string());
        let entries = self.exact.entry(lower).or_default();
        if let Some((_, id)) = entries.iter().find(|(existing, _)| *existing == surface_form) {
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
                if word.chars().count() < HEAD_CHARS {
                    return Err(format!("`{text}*`: a wildcard needs at least three letters before `*`"));
                }
                ids.push(self.word_prefix(word));
            } else if mode == Mode::Form || word.chars().count() <= SHORT_WORD_CHARS {
                // Stemmers leave words this short alone; matching them as written keeps every
                // stem at least four letters long, so one lookup decides whether a document
                // word needs stemming at all.
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
            let inner =
                inner.strip_suffix('}').ok_or_else(|| format!("`{entry}`: expected a closing `}}`"))?;
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
            return Err(format!("list @{name} includes itself (through {})", visiting.join(" → @")));
        }
        let entries = self.lists.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = self.lists.keys().map(String::as_str).collect();
            match crate::text::did_you_mean(name, &known) {
                Some(close) => format!("unknown list @{name}; did you mean @{close}?"),
                None => format!("unknown list @{name}"),
            }
        })?;
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
        let names: Vec<(String, Vec<String>)> =
            self.lists.iter().map(|(name, entries)| (name.clone(), entries.clone())).collect();
        for (name, entries) in names {
            if entries.is_empty() {
                errors.push(ListError { list: name.clone(), index: 0, message: "the list is empty".into() });
            }
            for (index, entry) in entries.iter().enumerate() {
                let mut visiting = vec![name.clone()];
                let mut patterns = Vec::new();
                if let Err(message) = self.entry_patterns(entry, &mut visiting, &mut patterns) {
                    errors.push(ListError { list: name.clone(), index, message });
                }
            }
        }
        errors
    }

    fn leaf(&mut self, term: &Term, scope: Option<Scope>, offset: usize) -> Result<usize, SyntaxError> {
        let key = format!("{term:?}");
        if let Some(&id) = self.leaf_ids.get(&(key.clone(), scope)) {
            return Ok(id);
        }
        let error = |message: String| SyntaxError { offset, message };
        let mut patterns = Vec::new();
        match term {
            Term::Word { text, prefix } | Term::Phrase { text, prefix } => {
                patterns.push(self.term_patterns(text, Mode::Stem, *prefix).map_err(error)?);
            }
            Term::Exact { text } => {
                patterns.push(self.term_patterns(text, Mode::CaseSensitive, false).map_err(error)?);
            }
            Term::Form { text } => {
                patterns.push(self.term_patterns(text, Mode::Form, false).map_err(error)?);
            }
            Term::List { name } => {
                let mut visiting = Vec::new();
                self.list_patterns(name, &mut visiting, &mut patterns).map_err(error)?;
            }
        }
        // Lists that resolve to the same patterns (`@us` and `@us_party` listing the same
        // sublists) share one leaf: the occurrences are found and stored once.
        patterns.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        patterns.dedup();
        if let Some(&id) = self.leaf_by_patterns.get(&(patterns.clone(), scope)) {
            self.leaf_ids.insert((key, scope), id);
            return Ok(id);
        }
        let id = self.leaves.len();
        self.leaf_by_patterns.insert((patterns.clone(), scope), id);
        self.leaves.push(Leaf { patterns, scope });
        self.leaf_ids.insert((key, scope), id);
        Ok(id)
    }

    /// Compiles a parsed query. `positive_leaves` receives the leaves not under a NOT (the ones
    /// an explanation highlights).
    pub fn compile(
        &mut self,
        expr: &Expr,
        scope: Option<Scope>,
        positive_leaves: &mut Vec<usize>,
    ) -> Result<Node, SyntaxError> {
        Ok(match expr {
            Expr::Term { term: Term::List { name }, offset } if self.queries.contains_key(name) => {
                self.expand_query(name, *offset, scope, positive_leaves)?
            }
            Expr::Term { term, offset } => {
                let id = self.leaf(term, scope, *offset)?;
                positive_leaves.push(id);
                Node::Leaf(id)
            }
            Expr::Scoped { scope: written, inner, .. } => {
                self.compile(inner, Some(*written), positive_leaves)?
            }
            Expr::And(items) => {
                if items.iter().all(|item| matches!(item, Expr::Not { .. })) {
                    return Err(SyntaxError {
                        offset: first_offset(expr),
                        message: "NOT needs a positive term beside it (e.g. `talks NOT ukraine`)".into(),
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
            Expr::Near { left, right, distance, offset } => {
                for side in [left, right] {
                    if let Expr::Not { .. } = **side {
                        return Err(SyntaxError {
                            offset: *offset,
                            message: format!("{distance} needs positive terms on both sides, not NOT"),
                        });
                    }
                }
                Node::Near {
                    left: Box::new(self.compile(left, scope, positive_leaves)?),
                    right: Box::new(self.compile(right, scope, positive_leaves)?),
                    distance: *distance,
                }
            }
            Expr::Without { left, right, distance, offset } => {
                for side in [left, right] {
                    if let Expr::Not { .. } = **side {
                        return Err(SyntaxError {
                            offset: *offset,
                            message: format!("NOT {distance} needs positive terms on both sides, not NOT"),
                        });
                    }
                }
                // The right side is what must be absent: never highlighted.
                let mut ignored = Vec::new();
                Node::Without {
                    left: Box::new(self.compile(left, scope, positive_leaves)?),
                    right: Box::new(self.compile(right, scope, &mut ignored)?),
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
        scope: Option<Scope>,
        positive_leaves: &mut Vec<usize>,
    ) -> Result<Node, SyntaxError> {
        let at_use = |message: String| SyntaxError { offset, message };
        if self.expanding.iter().any(|seen| seen == name) {
            return Err(at_use(format!("query @{name} uses itself")));
        }
        if let Some(&id) = self.shared_ids.get(&(name.to_string(), scope)) {
            positive_leaves.extend_from_slice(&self.shared_positive_leaves[id]);
            return Ok(Node::Shared(id));
        }
        let text = self.queries.get(name).cloned().unwrap_or_default();
        let expr = super::query::parse(&text)
            .map_err(|error| at_use(format!("in @{name}: {}", error.render(&text))))?;
        self.expanding.push(name.to_string());
        let mut own_leaves = Vec::new();
        let node = self.compile(&expr, scope, &mut own_leaves);
        self.expanding.pop();
        let node = node.map_err(|error| {
            if error.message.starts_with("in @") {
                at_use(error.message)
            } else {
                at_use(format!("in @{name}: {}", error.render(&text)))
            }
        })?;
        positive_leaves.extend_from_slice(&own_leaves);
        let id = self.shared.len();
        self.shared.push(node);
        self.shared_positive_leaves.push(own_leaves);
        self.shared_ids.insert((name.to_string(), scope), id);
        Ok(Node::Shared(id))
    }

    /// Finds every leaf's occurrences in a document.
    pub fn match_leaves(&self, tokens: &Tokens, originals: [&str; 2]) -> LeafOccs {
        // Per token, the word tests it passes: a range of `tests`.
        let mut tests: Vec<u32> = Vec::with_capacity(tokens.tokens.len());
        let mut at: Vec<(u32, u32)> = Vec::with_capacity(tokens.tokens.len());
        WORD_CACHES.with(|caches| {
            let mut caches = caches.borrow_mut();
            if !caches.contains_key(&self.cache_key) && caches.len() >= WORD_CACHE_PROGRAMS {
                caches.clear();
            }
            let cache = caches.entry(self.cache_key).or_default();
            for (index, token) in tokens.tokens.iter().enumerate() {
                let from = tests.len() as u32;
                let word = tokens.norm(index);
                let (lo, hi, has_exact) = match cache.words.get(word) {
                    Some(&found) => found,
                    None => {
                        if cache.words.len() >= WORD_CACHE_WORDS {
                            cache.words.clear();
                            cache.pool.clear();
                        }
                        let lo = cache.pool.len() as u32;
                        // A word whose first three letters start no form, stem, wildcard or
                        // exact term cannot match anything: settled with one lookup.
                        let head = first_chars(word, HEAD_CHARS);
                        let found = if self.heads.contains(head) {
                            self.word_tests(word, head, &mut cache.pool);
                            (lo, cache.pool.len() as u32, self.exact.contains_key(word))
                        } else {
                            (lo, lo, false)
                        };
                        cache.words.insert(word.into(), found);
                        found
                    }
                };
                tests.extend_from_slice(&cache.pool[lo as usize..hi as usize]);
                if has_exact && let Some(entries) = self.exact.get(word) {
                    let original = match token.field {
                        Field::Title => originals[0],
                        Field::Body => originals[1],
                    };
                    let written = surface(&original[token.start as usize..token.end as usize]);
                    for (surface_form, id) in entries {
                        if *surface_form == written {
                            tests.push(*id as u32);
                        }
                    }
                }
                at.push((from, tests.len() as u32));
            }
        });
        // The headline is the title, or the body's first sentence when there is no title.
        let headline_sentence = match tokens.tokens.first() {
            Some(first) if first.field == Field::Body => Some(first.sentence),
            _ => None,
        };
        let in_scope = |scope: Scope, position: u32| {
            let token = &tokens.tokens[position as usize];
            match scope {
                Scope::Title => token.field == Field::Title,
                Scope::Body => token.field == Field::Body,
                Scope::Headline => match headline_sentence {
                    Some(sentence) => token.sentence == sentence,
                    None => token.field == Field::Title,
                },
            }
        };
        // Every (leaf, occurrence) pair in one list, sorted once: one allocation per document
        // instead of one per matching leaf. Patterns are followed through the trie from every
        // token, one next token at a time, within the token's field.
        let mut pairs: Vec<(u32, Occ)> = Vec::with_capacity(tests.len() * 2);
        let mut emit = |node: &TrieNode, occ: Occ| {
            for &pattern in &node.patterns {
                for &leaf in &self.pattern_leaves[pattern as usize] {
                    if self.leaves[leaf].scope.is_none_or(|wanted| in_scope(wanted, occ.start)) {
                        pairs.push((leaf as u32, occ));
                    }
                }
            }
        };
        let mut stack: Vec<(u32, u32)> = Vec::new();
        for (start, token) in tokens.tokens.iter().enumerate() {
            let (from, to) = at[start];
            for &test in &tests[from as usize..to as usize] {
                let root = self.trie_roots[test as usize];
                if root == NO_NODE {
                    continue;
                }
                stack.push((root, start as u32 + 1));
                while let Some((node, end)) = stack.pop() {
                    let node = &self.trie[node as usize];
                    emit(node, Occ { start: start as u32, end });
                    if node.children.is_empty()
                        || tokens.tokens.get(end as usize).is_none_or(|next| next.field != token.field)
                    {
                        continue;
                    }
                    let (next_from, next_to) = at[end as usize];
                    for &next in &tests[next_from as usize..next_to as usize] {
                        if let Ok(child) = node.children.binary_search_by_key(&next, |&(word, _)| word) {
                            stack.push((node.children[child].1, end + 1));
                        }
                    }
                }
            }
        }
        // Grouped by leaf with a counting sort (the pairs come in word order, interleaving
        // leaves), then each leaf's few occurrences sorted and deduplicated in place.
        let mut offsets = vec![0u32; self.leaves.len() + 1];
        for &(leaf, _) in &pairs {
            offsets[leaf as usize + 1] += 1;
        }
        for leaf in 0..self.leaves.len() {
            offsets[leaf + 1] += offsets[leaf];
        }
        let mut cursor = offsets.clone();
        let mut occs = vec![Occ { start: 0, end: 0 }; pairs.len()];
        for &(leaf, occ) in &pairs {
            occs[cursor[leaf as usize] as usize] = occ;
            cursor[leaf as usize] += 1;
        }
        let mut ranges = vec![(0u32, 0u32); self.leaves.len()];
        let mut write = 0usize;
        for leaf in 0..self.leaves.len() {
            let (from, to) = (offsets[leaf] as usize, offsets[leaf + 1] as usize);
            occs[from..to].sort_unstable();
            let start = write;
            for read in from..to {
                if write == start || occs[write - 1] != occs[read] {
                    occs[write] = occs[read];
                    write += 1;
                }
            }
            // A term's first MAX_OCCURRENCES_PER_TERM occurrences, in text order.
            ranges[leaf] = (start as u32, write.min(start + MAX_OCCURRENCES_PER_TERM) as u32);
        }
        occs.truncate(write);
        LeafOccs { occs, ranges }
    }

    /// Leaves of which at least one must occur for `node` to hold (`None`: no such set, as
    /// under NOT). A rule whose set has no occurrence in a document is not evaluated at all.
    pub fn required_leaves(&self, node: &Node) -> Option<Vec<usize>> {
        let smallest = |sets: Vec<Option<Vec<usize>>>| sets.into_iter().flatten().min_by_key(Vec::len);
        match node {
            Node::Leaf(id) => Some(vec![*id]),
            Node::Shared(id) => self.required_leaves(&self.shared[*id]),
            Node::And(items) => smallest(items.iter().map(|item| self.required_leaves(item)).collect()),
            Node::Near { left, right, .. } => {
                smallest(vec![self.required_leaves(left), self.required_leaves(right)])
            }
            Node::Without { left, .. } => self.required_leaves(left),
            Node::Not(_) => None,
            Node::Or(items) => {
                let mut all = Vec::new();
                for item in items {
                    all.extend(self.required_leaves(item)?);
                }
                all.sort_unstable();
                all.dedup();
                Some(all)
            }
        }
    }

    /// Sets of leaves of which each must have one that occurs for `node` to hold: every
    /// operand of AND and NEAR must hold, so each contributes its own sets. A rule none of
    /// whose terms is missing from the document is the only kind evaluated in full.
    pub fn required_sets(&self, node: &Node) -> Vec<Vec<usize>> {
        let mut sets = match node {
            Node::Shared(id) => self.required_sets(&self.shared[*id]),
            Node::And(items) => items.iter().flat_map(|item| self.required_sets(item)).collect(),
            Node::Near { left, right, .. } => {
                let mut sets = self.required_sets(left);
                sets.extend(self.required_sets(right));
                sets
            }
            Node::Without { left, .. } => self.required_sets(left),
            Node::Leaf(_) | Node::Or(_) | Node::Not(_) => self.required_leaves(node).into_iter().collect(),
        };
        // Smallest sets first: they fail most often and cost least to test.
        sets.sort_by_key(Vec::len);
        sets.dedup();
        sets
    }

    /// Indexes the compiled patterns for matching; call once after compiling every query.
    pub fn finish(&mut self) {
        let mut ids: HashMap<Pattern, usize> = HashMap::new();
        self.unique_patterns.clear();
        self.pattern_leaves.clear();
        for (leaf_id, leaf) in self.leaves.iter().enumerate() {
            for pattern in &leaf.patterns {
                let id = *ids.entry(pattern.clone()).or_insert_with(|| {
                    self.unique_patterns.push(pattern.clone());
                    self.pattern_leaves.push(Vec::new());
                    self.unique_patterns.len() - 1
                });
                if !self.pattern_leaves[id].contains(&leaf_id) {
                    self.pattern_leaves[id].push(leaf_id);
                }
            }
        }
        self.trie = Vec::new();
        self.trie_roots = vec![NO_NODE; self.n_words];
        for (id, pattern) in self.unique_patterns.iter().enumerate() {
            let Some((&first, rest)) = pattern.0.split_first() else {
                continue;
            };
            if self.trie_roots[first] == NO_NODE {
                self.trie_roots[first] = self.trie.len() as u32;
                self.trie.push(TrieNode::default());
            }
            let mut node = self.trie_roots[first] as usize;
            for &word in rest {
                let word = word as u32;
                node = match self.trie[node].children.iter().find(|(existing, _)| *existing == word) {
                    Some(&(_, child)) => child as usize,
                    None => {
                        let child = self.trie.len() as u32;
                        self.trie.push(TrieNode::default());
                        self.trie[node].children.push((word, child));
                        child as usize
                    }
                };
            }
            self.trie[node].patterns.push(id as u32);
        }
        for node in &mut self.trie {
            node.children.sort_unstable();
        }
        self.cache_key = NEXT_CACHE_KEY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The word tests that a normalised word passes by form, stem or wildcard prefix (not the
    /// case-sensitive ones, which depend on the surface form), appended to `out`.
    fn word_tests(&self, word: &str, head: &str, out: &mut Vec<u32>) {
        if let Some(&id) = self.forms.get(word) {
            out.push(id as u32);
        }
        if word.chars().nth(HEAD_CHARS - 1).is_none() {
            return;
        }
        if self.could_have_stem(word)
            && let Some(&id) = self.stems.get(&self.stemmers.stem(word))
        {
            out.push(id as u32);
        }
        if let Some(entries) = self.prefixes.get(head) {
            for (prefix, id) in entries {
                if word.starts_with(prefix.as_str()) {
                    out.push(*id as u32);
                }
            }
        }
    }

    /// Whether `word` starts with the key of some stem; only such words are stemmed.
    fn could_have_stem(&self, word: &str) -> bool {
        // Each prefix end, in characters: the start of the next character, then the word end.
        let ends = word.char_indices().skip(1).map(|(index, _)| index).chain([word.len()]);
        for (count, end) in (1..=STEM_KEY_CHARS).zip(ends) {
            if count >= self.shortest_stem_key && self.stem_keys.contains(&word[..end]) {
                return true;
            }
        }
        false
    }
}

fn first_offset(expr: &Expr) -> usize {
    match expr {
        Expr::Term { offset, .. } | Expr::Not { offset, .. } | Expr::Scoped { offset, .. } => *offset,
        Expr::Near { left, .. } | Expr::Without { left, .. } => first_offset(left),
        Expr::And(items) | Expr::Or(items) => items.first().map_or(0, first_offset),
    }
}

/// Number of words between two occurrences (0 when they touch or overlap).
fn gap(a: Occ, b: Occ) -> u32 {
    if a.end <= b.start { b.start - a.end } else { a.start.saturating_sub(b.end) }
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
            out.push(Occ { start: a.start.min(b.start), end: a.end.max(b.end) });
        }
    }
}

/// A node's occurrences: borrowed from the leaves, or a range of the evaluator's arena (see
/// [`Evaluator`]). Either way a copy costs nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Occs<'a> {
    Borrowed(&'a [Occ]),
    Arena(u32, u32),
}

/// The sorted, deduplicated union of two sorted, deduplicated occurrence lists (a merge),
/// appended to `out`.
fn merge_into(left: &[Occ], right: &[Occ], out: &mut Vec<Occ>) {
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        match left[i].cmp(&right[j]) {
            std::cmp::Ordering::Less => {
                out.push(left[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(right[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(left[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&left[i..]);
    out.extend_from_slice(&right[j..]);
}

/// Evaluates compiled nodes over one document, computing each named query at most once.
///
/// Every occurrence list a node builds goes into one arena, so a document costs a handful of
/// allocations however many nodes its rules evaluate. The arena is used as a stack: a node's
/// result replaces the temporaries its operands left above it, except below `floor`, where
/// the named queries' cached results stay for the whole document. What an earlier call to
/// [`Evaluator::evaluate`] returned (an earlier rule's result) lies below every later call's
/// start, so it is never touched.
pub(crate) struct Evaluator<'a> {
    program: &'a Program,
    leaves: &'a LeafOccs,
    tokens: &'a Tokens,
    shared: Vec<Option<Option<Occs<'a>>>>,
    arena: Vec<Occ>,
    /// The arena below this length is kept (the cached named queries' results).
    floor: usize,
    /// Where an operator builds its result before it joins the arena (reused).
    scratch: Vec<Occ>,
}

impl<'a> Evaluator<'a> {
    pub fn new(program: &'a Program, leaves: &'a LeafOccs, tokens: &'a Tokens) -> Self {
        Evaluator {
            program,
            leaves,
            tokens,
            shared: vec![None; program.shared.len()],
            arena: Vec::with_capacity(256),
            floor: 0,
            scratch: Vec::new(),
        }
    }

    /// The occurrences `occs` stands for.
    pub fn get(&self, occs: Occs<'a>) -> &[Occ] {
        match occs {
            Occs::Borrowed(slice) => slice,
            Occs::Arena(start, end) => &self.arena[start as usize..end as usize],
        }
    }

    /// Moves the scratch list into the arena; `None` when it is empty.
    fn keep_scratch(&mut self, scratch: Vec<Occ>) -> Option<Occs<'a>> {
        let start = self.arena.len();
        self.arena.extend_from_slice(&scratch);
        self.scratch = scratch;
        (self.arena.len() > start).then_some(Occs::Arena(start as u32, self.arena.len() as u32))
    }

    /// A fresh scratch list (its allocation reused).
    fn take_scratch(&mut self) -> Vec<Occ> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch
    }

    fn union(&mut self, a: Occs<'a>, b: Occs<'a>) -> Occs<'a> {
        let (left, right) = (self.get(a), self.get(b));
        if left.is_empty() {
            return b;
        }
        if right.is_empty() {
            return a;
        }
        let mut out = self.take_scratch();
        merge_into(self.get(a), self.get(b), &mut out);
        self.keep_scratch(out).unwrap_or(a)
    }

    /// `None` when the node does not hold; otherwise the occurrences that satisfy it (empty
    /// for a satisfied NOT). The result stays valid for the evaluator's life: an evaluation
    /// writes only above the arena's length when it began, and never below `floor`.
    pub fn evaluate(&mut self, node: &Node) -> Option<Occs<'a>> {
        let mark = self.arena.len();
        let result = self.evaluate_node(node);
        // Everything the node's operands left in the arena above `keep_from` is temporary.
        let keep_from = mark.max(self.floor);
        match result {
            Some(Occs::Arena(start, end)) if start as usize >= keep_from => {
                let (start, end) = (start as usize, end as usize);
                self.arena.copy_within(start..end, keep_from);
                self.arena.truncate(keep_from + end - start);
                Some(Occs::Arena(keep_from as u32, (keep_from + end - start) as u32))
            }
            _ => {
                self.arena.truncate(keep_from);
                result
            }
        }
    }

    fn evaluate_node(&mut self, node: &Node) -> Option<Occs<'a>> {
        match node {
            Node::Leaf(id) => {
                let occs = self.leaves.get(*id);
                (!occs.is_empty()).then_some(Occs::Borrowed(occs))
            }
            Node::Shared(id) => {
                if let Some(done) = self.shared[*id] {
                    return done;
                }
                let program = self.program;
                let result = self.evaluate(&program.shared[*id]);
                // Cached for the document: nothing below here is reused as a temporary.
                self.floor = self.arena.len();
                self.shared[*id] = Some(result);
                result
            }
            Node::And(items) => {
                let mut all = Occs::Borrowed(&[]);
                for item in items {
                    let occs = self.evaluate(item)?;
                    all = self.union(all, occs);
                }
                Some(all)
            }
            Node::Or(items) => {
                let mut all: Option<Occs<'a>> = None;
                for item in items {
                    if let Some(occs) = self.evaluate(item) {
                        all = Some(match all {
                            None => occs,
                            Some(previous) => self.union(previous, occs),
                        });
                    }
                }
                all
            }
            Node::Not(inner) => match self.evaluate(inner) {
                Some(_) => None,
                None => Some(Occs::Borrowed(&[])),
            },
            Node::Near { left, right, distance } => {
                let left = self.evaluate(left)?;
                let right = self.evaluate(right)?;
                let mut out = self.take_scratch();
                let (left, right) = (self.get(left), self.get(right));
                nearest_pairs(left, right, *distance, true, self.tokens, &mut out);
                nearest_pairs(right, left, *distance, false, self.tokens, &mut out);
                out.sort_unstable();
                out.dedup();
                self.keep_scratch(out)
            }
            Node::Without { left, right, distance } => {
                let left = self.evaluate(left)?;
                let Some(right) = self.evaluate(right) else {
                    return Some(left);
                };
                let mut kept = self.take_scratch();
                let mut near = Vec::new();
                let right = self.get(right);
                for &occ in self.get(left) {
                    near.clear();
                    nearest_pairs(&[occ], right, *distance, true, self.tokens, &mut near);
                    if near.is_empty() {
                        kept.push(occ);
                    }
                }
                self.keep_scratch(kept)
            }
        }
    }
}
