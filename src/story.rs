//! Stories: which items report the same event. Every item gets a [`Fingerprint`] (canonical
//! link, content-word stems, named actors, the event's kind, time and place as its headline
//! states them, and a MinHash signature of its body's word shingles); a [`Clusterer`] joins a
//! new item to the story of a recent item when it is the same article (`same_url`), a near copy
//! of its body (`near_copy`), or a rewrite of it (`rewrite`: most of the shorter item's tf·idf
//! term weight found in the other and a name in common; or an "event rewrite", for reactions
//! and rewrites in other words: within 36 h, both headlines name the same act — a swap or
//! release, a postponement, an arrest — and the same rare name or several less common words, or
//! they name the same rare name and share half their weight;
//! in both cases nothing may say another event: a planned vs a held meeting, a call vs a
//! meeting, another venue, another day for two contacts, "for the second time"). Otherwise it
//! starts a story.
//!
//! Clustering is pure like `classify`: no I/O, deterministic, never panics on input. Candidates
//! come from a [`CandidateIndex`] (LSH bands of the body signature, the item's rarest terms, its
//! main actors and its link), so the cost per item does not grow with the number of items in
//! the window.
//! Items leave the window (default 72 h) by their published time. The only I/O is
//! [`cluster_jsonl`], the offline clustering behind `newswatch cluster`.
//!
//! English and Russian items cluster among themselves; an English item never joins a Russian
//! story except by the same link: their stems differ, and joining on shared names alone would
//! merge different events between the same people, which a monitor must not hide.

mod codec;
mod fingerprint;
mod index;
mod offline;
#[cfg(test)]
mod tests;

pub use codec::{decode_fingerprint, encode_fingerprint};
pub use fingerprint::{Fingerprint, Lang, Mode, Predicate, canonical_url, fingerprint, stable_hash};
pub use index::{CandidateIndex, MAX_SLOTS_PER_KEY, MemoryIndex, Slot};
pub use offline::{ClusterLine, ClusterSummary, StoryError, cluster_file, cluster_jsonl};

use fingerprint::{BAND_ROWS, containment, mix};
use std::collections::{HashMap, VecDeque};

/// The default window: an item joins only stories with an item published this close to it.
pub const DEFAULT_WINDOW_SECS: i64 = 72 * 3600;

/// Why an item joined a story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Its canonical link is a story item's.
    SameUrl,
    /// Its body is a near copy of a story item's (shingle containment).
    NearCopy,
    /// A rewrite of a story item: similar terms, the same main actors, no conflicting detail.
    Rewrite,
}

impl Why {
    /// The name used in output and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Why::SameUrl => "same_url",
            Why::NearCopy => "near_copy",
            Why::Rewrite => "rewrite",
        }
    }
}

/// Thresholds of the join decision.
#[derive(Debug, Clone)]
pub struct StoryParams {
    /// Items further apart than this (by published time) never join.
    pub window_secs: i64,
    /// Shingle containment from which a body is a near copy.
    pub near_copy: f64,
    /// The fewest distinct shingles a body needs to be judged a near copy.
    pub min_shingles: u32,
    /// The share of the shorter item's tf·idf term weight found in the other from which an item
    /// is a rewrite (when it also names an actor of the other, and nothing conflicts).
    pub rewrite: f64,
    /// Added to `rewrite` per day between the two items' published times: a rewrite follows its
    /// event within hours, while items days apart that share the same people and words are more
    /// often a new development (a reply, a confirmation, a second call) than a rewrite.
    pub rewrite_per_day: f64,
    /// Added to `rewrite` when only one of the two headlines names the kind of contact (a call
    /// or a meeting): the other may be about something else the same people did.
    pub rewrite_one_kind: f64,
    /// The lowest tf·idf cosine of a rewrite.
    pub rewrite_cosine: f64,
    /// An "event rewrite" joins items whose wording differs (reactions, rewrites in other words)
    /// when both headlines name the same rare actor and the same act (a swap, a release, a
    /// postponement, ...), with the same kind of contact and mode, within this many hours.
    pub event_hours: f64,
    /// The lowest idf of the rare actor of an event rewrite, as a share of the highest idf
    /// possible with today's number of documents (so that it means "rare" whatever the count).
    pub event_rare: f64,
    /// Instead of a rare actor, the headlines may share terms (acts left out) whose idf sums to
    /// this share of the highest idf possible.
    pub event_shared: f64,
    /// The lowest term overlap of an event rewrite.
    pub event_overlap: f64,
    /// An event rewrite may also name no listed act ("Putin arrives in Saudi Arabia" /
    /// "Putin's Saudi visit to talk oil"): then the two headlines share a rare actor and this
    /// share of the shorter headline's idf weight...
    pub event_headline: f64,
    /// ...and the items this term overlap (their wording differs, their words do not).
    pub event_headline_terms: f64,
    /// How many of an item's rarest terms are lookup keys.
    pub term_keys: usize,
    /// How many of an item's main actors are lookup keys.
    pub actor_keys: usize,
    /// How many candidates, most keys shared first, are compared in full.
    pub max_candidates: usize,
}

impl Default for StoryParams {
    fn default() -> StoryParams {
        StoryParams {
            window_secs: DEFAULT_WINDOW_SECS,
            near_copy: 0.7,
            min_shingles: 12,
            rewrite: 0.27,
            rewrite_per_day: 0.12,
            rewrite_one_kind: 0.05,
            rewrite_cosine: 0.21,
            event_hours: 36.0,
            event_rare: 0.4,
            event_shared: 1.2,
            event_overlap: 0.1,
            event_headline: 0.5,
            event_headline_terms: 0.2,
            term_keys: 12,
            actor_keys: 6,
            max_candidates: 64,
        }
    }
}

/// How a new item compares with one item of the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The share of the smaller body's shingles found in the other (MinHash estimate).
    pub containment: f64,
    /// The share of the shorter item's tf·idf term weight found in the other.
    pub overlap: f64,
    /// The tf·idf cosine of the two items' terms.
    pub cosine: f64,
    /// How many actors both name.
    pub common_actors: usize,
    /// The share of the shorter headline's idf weight found in the other headline.
    pub headline_overlap: f64,
    /// How many actors both headlines name.
    pub headline_actors: usize,
    /// The highest idf of an actor both headlines name (0 when none).
    pub headline_rarest: f64,
    /// The summed idf of the terms both headlines have, acts left out.
    pub headline_shared: f64,
    /// The detail saying these are two events, if any (checked against the story's first item
    /// too).
    pub conflict: Option<&'static str>,
    /// Why the new item joins, and the similarity behind it; `None` when it does not.
    pub decision: Option<(Why, f64)>,
}

/// What the clusterer decided for one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The item's own slot.
    pub slot: Slot,
    /// The story: the slot of its first item.
    pub story: Slot,
    /// Why it joined, or `None` when it started the story.
    pub why: Option<Why>,
    /// The similarity behind `why` (1 for the same link, containment for a near copy, the
    /// term cosine for a rewrite).
    pub similarity: Option<f64>,
    /// The item it was found similar to.
    pub matched: Option<Slot>,
}

/// An item in the window.
#[derive(Debug)]
struct Entry {
    published: i64,
    story: Slot,
    keys: Vec<u64>,
    fingerprint: Fingerprint,
    weights: Weights,
}

/// An item's terms weighted by tf·idf, with the document frequencies of the moment it was
/// added (kept, so that comparing with it needs no logarithm).
#[derive(Debug, Clone)]
struct Weights {
    /// (term, tf·idf), sorted by term.
    terms: Vec<(u64, f32)>,
    /// The Euclidean norm of the weights.
    norm: f64,
    /// The sum of the weights.
    total: f64,
}

/// What a story keeps of its first item: the details a joining rewrite must not contradict,
/// so that a chain of rewrites cannot drift to another event.
#[derive(Debug)]
struct Story {
    head: Fingerprint,
    live_items: u32,
}

/// The concept groups (see `fingerprint::CONCEPTS`) that name an act, as against a role or a
/// country, with their family: two headlines naming the same rare actor and an act of the same
/// family report one event. A prisoner's release and an exchange are one family ("a deal that
/// freed Griner", "the Griner swap"). Contacts (a call, a meeting) are left out: two contacts
/// between the same people are the case where names and the act are not enough.
static ACTS: std::sync::LazyLock<Vec<(u64, u8)>> = std::sync::LazyLock::new(|| {
    [("#postpone", 0), ("#swap", 1), ("#release", 1), ("#detain", 2)]
        .iter()
        .map(|(name, family)| (stable_hash(name.as_bytes()), *family))
        .collect()
});

/// The act families a headline names.
fn acts(headline: &[u64]) -> Vec<u8> {
    ACTS.iter().filter(|(act, _)| headline.binary_search(act).is_ok()).map(|(_, family)| *family).collect()
}

/// Items read per lookup key, newest first: an item of the same story shares several keys, so
/// the newest few per key find it even under a very common name.
pub const CANDIDATES_PER_KEY: usize = 32;

/// Document frequencies, hashed into a fixed table (bounded memory, no expiry needed).
const DF_BUCKETS: usize = 1 << 18;

/// Clusters items into stories, one at a time, in published order.
pub struct Clusterer<I: CandidateIndex = MemoryIndex> {
    params: StoryParams,
    index: I,
    items: HashMap<Slot, Entry>,
    order: VecDeque<(i64, Slot)>,
    stories: HashMap<Slot, Story>,
    document_frequency: Vec<u32>,
    documents: u64,
    next_slot: Slot,
}

impl Clusterer<MemoryIndex> {
    /// A clusterer with an in-memory index.
    pub fn new(params: StoryParams) -> Clusterer<MemoryIndex> {
        Clusterer::with_index(params, MemoryIndex::new())
    }
}

impl<I: CandidateIndex> Clusterer<I> {
    /// A clusterer over the given index.
    pub fn with_index(params: StoryParams, index: I) -> Clusterer<I> {
        Clusterer {
            params,
            index,
            items: HashMap::new(),
            order: VecDeque::new(),
            stories: HashMap::new(),
            document_frequency: vec![0; DF_BUCKETS],
            documents: 0,
            next_slot: 0,
        }
    }

    /// The candidate index.
    pub fn index(&self) -> &I {
        &self.index
    }

    /// The number of items in the window.
    pub fn window_items(&self) -> usize {
        self.items.len()
    }

    /// The number of stories with an item in the window.
    pub fn window_stories(&self) -> usize {
        self.stories.len()
    }

    /// Decides the story of an item published at `published` (Unix seconds) and files it.
    pub fn add(&mut self, published: i64, fingerprint: Fingerprint) -> Decision {
        self.expire_before(published.saturating_sub(self.params.window_secs));
        let slot = self.next_slot;
        self.next_slot += 1;
        let weights = self.weigh(&fingerprint);
        let keys = self.keys(&fingerprint, &weights);
        let (story, why, similarity, matched) =
            match self.best_match(published, &fingerprint, &weights, &keys) {
                Some((matched, why, similarity)) => {
                    let story = self.items[&matched].story;
                    (story, Some(why), Some(similarity), Some(matched))
                }
                None => (slot, None, None, None),
            };
        self.enter(slot, story, published, fingerprint, weights, keys, None);
        Decision { slot, story, why, similarity, matched }
    }

    /// Files an item decided earlier (read back from the store) under its own `slot` in story
    /// `story`, without comparing it with anything: start-up files the newest items of the
    /// window this way, and the recorder files an older item found through the store's key
    /// table when it becomes a candidate. `indexed`: also file it under its keys in this
    /// clusterer's index (false for an item the store's key table finds). `head`: the story's
    /// first item, when the story is not in the window yet (else this item stands for it).
    /// Later slots [`Clusterer::add`] hands out follow `slot`.
    pub fn file(
        &mut self,
        slot: Slot,
        story: Slot,
        published: i64,
        fingerprint: Fingerprint,
        head: Option<&Fingerprint>,
        indexed: bool,
    ) {
        if self.items.contains_key(&slot) {
            return;
        }
        self.next_slot = self.next_slot.max(slot + 1);
        let weights = self.weigh(&fingerprint);
        let keys = if indexed { self.keys(&fingerprint, &weights) } else { Vec::new() };
        self.enter(slot, story, published, fingerprint, weights, keys, head);
    }

    /// Counts the item's terms, indexes its keys and holds it in the window under `story`;
    /// a story new to the window keeps the event details of `head` (default: this item) for
    /// the conflict checks — no terms, headline, actors or signature.
    #[allow(clippy::too_many_arguments)]
    fn enter(
        &mut self,
        slot: Slot,
        story: Slot,
        published: i64,
        fingerprint: Fingerprint,
        weights: Weights,
        keys: Vec<u64>,
        head: Option<&Fingerprint>,
    ) {
        for (term, _) in &fingerprint.terms {
            let bucket = &mut self.document_frequency[(*term as usize) % DF_BUCKETS];
            *bucket = bucket.saturating_add(1);
        }
        self.documents += 1;
        self.index.insert(slot, &keys);
        match self.stories.get_mut(&story) {
            Some(existing) => existing.live_items += 1,
            None => {
                let head = Fingerprint {
                    terms: Vec::new(),
                    headline: Vec::new(),
                    actors: Vec::new(),
                    minhash: Vec::new(),
                    url: None,
                    ..head.unwrap_or(&fingerprint).clone()
                };
                self.stories.insert(story, Story { head, live_items: 1 });
            }
        }
        // Comparisons use the weights from now on; the raw term counts would only double memory.
        let fingerprint = Fingerprint { terms: Vec::new(), ..fingerprint };
        self.items.insert(slot, Entry { published, story, keys, fingerprint, weights });
        self.order.push_back((published, slot));
    }

    /// Whether `slot` is in the window held here.
    pub fn contains(&self, slot: Slot) -> bool {
        self.items.contains_key(&slot)
    }

    /// The lookup keys an item was filed under (empty for one filed unindexed), for the store's
    /// key table.
    pub fn item_keys(&self, slot: Slot) -> &[u64] {
        self.items.get(&slot).map_or(&[], |entry| entry.keys.as_slice())
    }

    /// The lookup keys [`Clusterer::add`] would use for this fingerprint now (to find older
    /// candidates in the store before adding).
    pub fn lookup_keys(&self, fingerprint: &Fingerprint) -> Vec<u64> {
        self.keys(fingerprint, &self.weigh(fingerprint))
    }

    /// The slot the next [`Clusterer::add`] hands out.
    pub fn next_slot(&self) -> Slot {
        self.next_slot
    }

    /// Starts slot numbering at `slot` (a restart continues the stored numbering).
    pub fn resume_slots_at(&mut self, slot: Slot) {
        self.next_slot = self.next_slot.max(slot);
    }

    /// The candidate index, to change.
    pub fn index_mut(&mut self) -> &mut I {
        &mut self.index
    }

    /// Drops items published before `cutoff` from the window (and stories left without items).
    pub fn expire_before(&mut self, cutoff: i64) {
        // Items usually arrive in published order; one that arrived late leaves with its
        // neighbours in arrival order, which the window check in `best_match` makes harmless.
        while let Some(&(published, slot)) = self.order.front() {
            if published >= cutoff {
                break;
            }
            self.order.pop_front();
            self.drop_item(slot);
        }
    }

    /// Keeps only the `cap` items with the highest slots (the newest filed) and drops the
    /// rest from memory: their story goes on, and a caller that keeps the window in a store
    /// finds them there (items below the returned slot). None when at most `cap` are held.
    pub fn hold_newest(&mut self, cap: usize) -> Option<Slot> {
        let cap = cap.max(1);
        if self.items.len() <= cap {
            return None;
        }
        let mut slots: Vec<Slot> = self.items.keys().copied().collect();
        let cut = slots.len() - cap;
        let below = *slots.select_nth_unstable(cut).1;
        for slot in slots.into_iter().filter(|slot| *slot < below) {
            self.drop_item(slot);
        }
        let items = &self.items;
        self.order.retain(|(_, slot)| items.contains_key(slot));
        Some(below)
    }

    /// Forgets one item: out of the index, and its story too when it was the story's last.
    fn drop_item(&mut self, slot: Slot) {
        if let Some(entry) = self.items.remove(&slot) {
            self.index.remove(slot, &entry.keys);
            if let Some(story) = self.stories.get_mut(&entry.story) {
                story.live_items -= 1;
                if story.live_items == 0 {
                    self.stories.remove(&entry.story);
                }
            }
        }
    }

    fn idf(&self, term: u64) -> f64 {
        let frequency = f64::from(self.document_frequency[(term as usize) % DF_BUCKETS]);
        ((1.0 + self.documents as f64) / (1.0 + frequency)).ln() + 1.0
    }

    /// The lookup keys of an item: its link, the LSH bands of its body signature, its rarest
    /// terms. Each kind is tagged so that they cannot collide.
    fn keys(&self, fingerprint: &Fingerprint, weights: &Weights) -> Vec<u64> {
        let mut keys = Vec::with_capacity(48);
        if let Some(url) = &fingerprint.url {
            keys.push(mix(stable_hash(url.as_bytes()) ^ 0x75));
        }
        if fingerprint.shingles >= self.params.min_shingles {
            for (band, rows) in fingerprint.minhash.chunks(BAND_ROWS).enumerate() {
                let mut hash = 0x62 ^ (band as u64) << 8;
                for row in rows {
                    hash = mix(hash ^ u64::from(*row));
                }
                keys.push(hash);
            }
        }
        let mut ranked: Vec<(f64, u64)> =
            weights.terms.iter().map(|(term, weight)| (f64::from(*weight), *term)).collect();
        ranked.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        keys.extend(ranked.iter().take(self.params.term_keys).map(|(_, term)| mix(*term ^ 0x74)));
        // Rewrites share the names more reliably than any wording: the main actors are keys too.
        let mut actors: Vec<(f64, u64)> = fingerprint
            .actors
            .iter()
            .map(|(actor, count)| (f64::from(*count) * self.idf(*actor), *actor))
            .collect();
        actors.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        keys.extend(actors.iter().take(self.params.actor_keys).map(|(_, actor)| mix(*actor ^ 0x61)));
        keys
    }

    fn best_match(
        &self,
        published: i64,
        fingerprint: &Fingerprint,
        weights: &Weights,
        keys: &[u64],
    ) -> Option<(Slot, Why, f64)> {
        let mut found = Vec::with_capacity(keys.len() * CANDIDATES_PER_KEY);
        self.index.candidates(keys, CANDIDATES_PER_KEY, &mut found);
        // Rank by the number of keys shared, then newest first (a sort is cheaper than a map
        // for a few thousand slots).
        found.sort_unstable();
        let mut ranked: Vec<(Slot, u32)> = Vec::with_capacity(found.len() / 2 + 1);
        for slot in found {
            match ranked.last_mut() {
                Some((last, votes)) if *last == slot => *votes += 1,
                _ => ranked.push((slot, 1)),
            }
        }
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        ranked.truncate(self.params.max_candidates);

        let mut best: Option<(Slot, Why, f64)> = None;
        let rank = |why: Why| match why {
            Why::SameUrl => 2,
            Why::NearCopy => 1,
            Why::Rewrite => 0,
        };
        for (slot, _) in ranked {
            let Some(entry) = self.items.get(&slot) else { continue };
            if (published - entry.published).abs() > self.params.window_secs {
                continue;
            }
            let head = self.stories.get(&entry.story).map(|story| &story.head);
            let comparison = self.measure(
                (fingerprint, weights),
                (&entry.fingerprint, &entry.weights),
                head,
                published - entry.published,
            );
            let Some((why, similarity)) = comparison.decision else { continue };
            let better = match best {
                None => true,
                Some((_, best_why, best_similarity)) => {
                    (rank(why), similarity) > (rank(best_why), best_similarity)
                }
            };
            if better {
                best = Some((slot, why, similarity));
            }
        }
        best
    }

    /// Compares a new item with an item of the window (and the first item of its story, whose
    /// details a rewrite must not contradict either): every measure and the decision. Public
    /// so that a caller can explain a decision.
    pub fn compare(&self, new: &Fingerprint, old: &Fingerprint, head: Option<&Fingerprint>) -> Comparison {
        self.compare_at(new, old, head, 0)
    }

    /// [`Clusterer::compare`] for items published `seconds_apart` apart (the rewrite threshold
    /// rises with the time between them, see [`StoryParams::rewrite_per_day`]).
    pub fn compare_at(
        &self,
        new: &Fingerprint,
        old: &Fingerprint,
        head: Option<&Fingerprint>,
        seconds_apart: i64,
    ) -> Comparison {
        self.measure((new, &self.weigh(new)), (old, &self.weigh(old)), head, seconds_apart)
    }

    /// The terms of an item weighted by tf·idf with today's document frequencies.
    fn weigh(&self, fingerprint: &Fingerprint) -> Weights {
        let terms: Vec<(u64, f32)> = fingerprint
            .terms
            .iter()
            .map(|(term, tf)| (*term, (f64::from(*tf) * self.idf(*term)) as f32))
            .collect();
        let norm = terms.iter().map(|(_, weight)| f64::from(*weight).powi(2)).sum::<f64>().sqrt();
        let total = terms.iter().map(|(_, weight)| f64::from(*weight)).sum();
        Weights { terms, norm, total }
    }

    fn measure(
        &self,
        (new, new_weights): (&Fingerprint, &Weights),
        (old, old_weights): (&Fingerprint, &Weights),
        head: Option<&Fingerprint>,
        seconds_apart: i64,
    ) -> Comparison {
        let (dot, common) = shared_weight(new_weights, old_weights);
        let smaller_total = new_weights.total.min(old_weights.total);
        let norms = new_weights.norm * old_weights.norm;
        let mut comparison = Comparison {
            containment: containment(new, old),
            overlap: if smaller_total > 0.0 { common / smaller_total } else { 0.0 },
            cosine: if norms > 0.0 { dot / norms } else { 0.0 },
            common_actors: self.common_actors(new, old),
            headline_overlap: self.headline_overlap(new, old),
            headline_actors: headline_actors(new, old).len(),
            headline_rarest: headline_actors(new, old)
                .iter()
                .map(|actor| self.idf(*actor))
                .fold(0.0, f64::max),
            headline_shared: new
                .headline
                .iter()
                .filter(|term| {
                    old.headline.binary_search(term).is_ok() && !ACTS.iter().any(|(act, _)| act == *term)
                })
                .map(|term| self.idf(*term))
                .sum(),
            conflict: conflict(new, old).or_else(|| head.and_then(|head| conflict(new, head))),
            decision: None,
        };
        if new.url.is_some() && new.url == old.url {
            comparison.decision = Some((Why::SameUrl, 1.0));
            return comparison;
        }
        // A copy that names another venue is another event's copy (a template reused).
        if new.shingles.min(old.shingles) >= self.params.min_shingles
            && comparison.containment >= self.params.near_copy
            && !venues_differ(new, old)
        {
            comparison.decision = Some((Why::NearCopy, comparison.containment));
            return comparison;
        }
        if new.lang != old.lang || comparison.conflict.is_some() {
            return comparison;
        }
        // Short feed items word the same event differently: the share of the shorter item's
        // weighted terms found in the other decides, with a floor on the cosine so that a short
        // item cannot join a long one on a few shared words alone.
        let days_apart = seconds_apart.unsigned_abs() as f64 / 86_400.0;
        let mut needed = self.params.rewrite + self.params.rewrite_per_day * days_apart;
        if (new.predicate == Predicate::Unknown) != (old.predicate == Predicate::Unknown) {
            needed += self.params.rewrite_one_kind;
        }
        let actors_agree = new.actors.is_empty() || old.actors.is_empty() || comparison.common_actors > 0;
        let reworded =
            comparison.overlap >= needed && comparison.cosine >= self.params.rewrite_cosine && actors_agree;
        if reworded || self.same_event(new, old, &comparison, days_apart) {
            comparison.decision = Some((Why::Rewrite, comparison.overlap));
        }
        comparison
    }

    /// Whether two items that word an event differently still report the same one: both
    /// headlines name the same act (a swap, a release, a postponement, an arrest) and a rare
    /// actor or several less common words, or they name a rare actor and share half their
    /// headline's weight; the mode agrees (a call and a meeting are already a conflict), and
    /// they are published close together.
    fn same_event(
        &self,
        new: &Fingerprint,
        old: &Fingerprint,
        comparison: &Comparison,
        days_apart: f64,
    ) -> bool {
        if days_apart * 24.0 > self.params.event_hours
            || comparison.overlap < self.params.event_overlap
            || new.mode != old.mode
        {
            return false;
        }
        let highest_idf = (1.0 + self.documents as f64).ln() + 1.0;
        // The evidence that it is one event: a rare name, or several less rare words ("nuclear
        // arms talks", "two American prisoners") besides the act.
        if comparison.headline_rarest < self.params.event_rare * highest_idf
            && comparison.headline_shared < self.params.event_shared * highest_idf
        {
            return false;
        }
        // Headlines that restate each other around a rare name ("Putin arrives in Saudi Arabia",
        // "Putin's Saudi visit to talk oil") report one event even when they name no listed
        // act; items that share only the name and a word or two ("Graham says ..." / "Russia
        // seeks arrest of Graham") stay apart.
        if comparison.headline_rarest >= self.params.event_rare * highest_idf
            && comparison.headline_overlap >= self.params.event_headline
            && comparison.overlap >= self.params.event_headline_terms
        {
            return true;
        }
        let old_acts = acts(&old.headline);
        acts(&new.headline).iter().any(|family| old_acts.contains(family))
    }

    /// The share of the shorter headline's idf weight (by today's document frequencies) that
    /// the other headline has too.
    fn headline_overlap(&self, left: &Fingerprint, right: &Fingerprint) -> f64 {
        let weight = |terms: &[u64]| terms.iter().map(|term| self.idf(*term)).sum::<f64>();
        let smaller = weight(&left.headline).min(weight(&right.headline));
        if smaller <= 0.0 {
            return 0.0;
        }
        let common: f64 = left
            .headline
            .iter()
            .filter(|term| right.headline.binary_search(term).is_ok())
            .map(|term| self.idf(*term))
            .sum();
        common / smaller
    }

    /// How many actors both items name.
    fn common_actors(&self, left: &Fingerprint, right: &Fingerprint) -> usize {
        left.actors.iter().filter(|(actor, _)| right.actors.iter().any(|(other, _)| other == actor)).count()
    }
}

/// The actors both headlines name.
fn headline_actors(left: &Fingerprint, right: &Fingerprint) -> Vec<u64> {
    left.actors
        .iter()
        .map(|(actor, _)| *actor)
        .filter(|actor| {
            left.headline.binary_search(actor).is_ok()
                && right.headline.binary_search(actor).is_ok()
                && right.actors.iter().any(|(other, _)| other == actor)
        })
        .collect()
}

/// The dot product of two weight vectors and the weight they share (the smaller of the two
/// weights of each common term).
fn shared_weight(left: &Weights, right: &Weights) -> (f64, f64) {
    let (mut i, mut j, mut dot, mut common) = (0, 0, 0.0, 0.0);
    while i < left.terms.len() && j < right.terms.len() {
        match left.terms[i].0.cmp(&right.terms[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                let (a, b) = (f64::from(left.terms[i].1), f64::from(right.terms[j].1));
                dot += a * b;
                common += a.min(b);
                i += 1;
                j += 1;
            }
        }
    }
    (dot, common)
}

/// The detail that makes two items about the same people two different events, if any.
fn conflict(left: &Fingerprint, right: &Fingerprint) -> Option<&'static str> {
    if matches!((left.mode, right.mode), (Mode::Planned, Mode::Happened) | (Mode::Happened, Mode::Planned)) {
        return Some("planned vs held");
    }
    if matches!(
        (left.predicate, right.predicate),
        (Predicate::Call, Predicate::Meeting) | (Predicate::Meeting, Predicate::Call)
    ) {
        return Some("call vs meeting");
    }
    if venues_differ(left, right) {
        return Some("another venue");
    }
    // Days tell two contacts apart (a call on Monday, another on Friday); items about anything
    // else name the days of their background (the swap on Thursday, the arrival on Friday).
    if left.predicate != Predicate::Unknown
        && right.predicate != Predicate::Unknown
        && !left.days.is_empty()
        && !right.days.is_empty()
        && !left.days.iter().any(|day| right.days.contains(day))
    {
        return Some("another day");
    }
    if left.repeat != right.repeat {
        return Some("a repeat");
    }
    None
}

/// Both items name a venue, and no venue is common to both.
fn venues_differ(left: &Fingerprint, right: &Fingerprint) -> bool {
    !left.venues.is_empty()
        && !right.venues.is_empty()
        && !left.venues.iter().any(|venue| right.venues.contains(venue))
}
