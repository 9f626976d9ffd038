//! Stories: which items report the same event. Every item gets a [`Fingerprint`] (canonical
//! link, content-word stems, named actors, the event's kind, time and place as its headline
//! states them, and a MinHash signature of its body's word shingles); a [`Clusterer`] joins a
//! new item to the story of a recent item when it is the same article (`same_url`), a near copy
//! of its body (`near_copy`), or a rewrite of it (`rewrite`: similar weighted terms, the same
//! main actors, and nothing that says another event: a planned vs a held meeting, a call vs a
//! meeting, another venue, another day, "for the second time"). Otherwise it starts a story.
//!
//! Clustering is pure like `classify`: no I/O, deterministic, never panics on input. Candidates
//! come from a [`CandidateIndex`] (LSH bands of the body signature plus the item's rarest terms
//! and its link), so the cost per item does not grow with the number of items in the window.
//! Items leave the window (default 72 h) by their published time. The only I/O is
//! [`cluster_jsonl`], the offline clustering behind `newswatch cluster`.
//!
//! English and Russian items cluster among themselves; an English item never joins a Russian
//! story except by the same link: their stems differ, and joining on shared names alone would
//! merge different events between the same people, which a monitor must not hide.

mod fingerprint;
mod index;
mod offline;
#[cfg(test)]
mod tests;

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
    /// Weighted-term cosine from which an item is a rewrite (with the same main actors).
    pub rewrite: f64,
    /// Added to `rewrite` when either item names no actor at all.
    pub rewrite_without_actors: f64,
    /// How many of an item's rarest terms are lookup keys.
    pub term_keys: usize,
    /// How many candidates, most keys shared first, are compared in full.
    pub max_candidates: usize,
}

impl Default for StoryParams {
    fn default() -> StoryParams {
        StoryParams {
            window_secs: DEFAULT_WINDOW_SECS,
            near_copy: 0.7,
            min_shingles: 12,
            rewrite: 0.38,
            rewrite_without_actors: 0.15,
            term_keys: 8,
            max_candidates: 64,
        }
    }
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
}

/// What a story keeps of its first item: the details a joining rewrite must not contradict,
/// so that a chain of rewrites cannot drift to another event.
#[derive(Debug)]
struct Story {
    head: Fingerprint,
    live_items: u32,
}

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
        let keys = self.keys(&fingerprint);
        let (story, why, similarity, matched) = match self.best_match(published, &fingerprint, &keys) {
            Some((matched, why, similarity)) => {
                let story = self.items[&matched].story;
                (story, Some(why), Some(similarity), Some(matched))
            }
            None => (slot, None, None, None),
        };
        for (term, _) in &fingerprint.terms {
            let bucket = &mut self.document_frequency[(*term as usize) % DF_BUCKETS];
            *bucket = bucket.saturating_add(1);
        }
        self.documents += 1;
        self.index.insert(slot, &keys);
        match self.stories.get_mut(&story) {
            Some(existing) => existing.live_items += 1,
            None => {
                self.stories.insert(story, Story { head: fingerprint.clone(), live_items: 1 });
            }
        }
        self.items.insert(slot, Entry { published, story, keys, fingerprint });
        self.order.push_back((published, slot));
        Decision { slot, story, why, similarity, matched }
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
    }

    fn idf(&self, term: u64) -> f64 {
        let frequency = f64::from(self.document_frequency[(term as usize) % DF_BUCKETS]);
        ((1.0 + self.documents as f64) / (1.0 + frequency)).ln() + 1.0
    }

    /// The lookup keys of an item: its link, the LSH bands of its body signature, its rarest
    /// terms. Each kind is tagged so that they cannot collide.
    fn keys(&self, fingerprint: &Fingerprint) -> Vec<u64> {
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
        let mut ranked: Vec<(f64, u64)> = fingerprint
            .terms
            .iter()
            .map(|(term, weight)| (f64::from(*weight) * self.idf(*term), *term))
            .collect();
        ranked.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        keys.extend(ranked.iter().take(self.params.term_keys).map(|(_, term)| mix(*term ^ 0x74)));
        keys
    }

    fn best_match(
        &self,
        published: i64,
        fingerprint: &Fingerprint,
        keys: &[u64],
    ) -> Option<(Slot, Why, f64)> {
        let mut found = Vec::new();
        self.index.candidates(keys, 64, &mut found);
        // Rank by the number of keys shared, then newest first.
        let mut votes: HashMap<Slot, u32> = HashMap::with_capacity(found.len());
        for slot in found {
            *votes.entry(slot).or_default() += 1;
        }
        let mut ranked: Vec<(Slot, u32)> = votes.into_iter().collect();
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
            let Some((why, similarity)) = self.judge(fingerprint, entry) else { continue };
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

    /// Whether `new` joins the story of `entry`, and why.
    fn judge(&self, new: &Fingerprint, entry: &Entry) -> Option<(Why, f64)> {
        let old = &entry.fingerprint;
        if new.url.is_some() && new.url == old.url {
            return Some((Why::SameUrl, 1.0));
        }
        if new.shingles.min(old.shingles) >= self.params.min_shingles {
            let copied = containment(new, old);
            // A copy that names another venue is another event's copy (a template reused).
            if copied >= self.params.near_copy && !venues_differ(new, old) {
                return Some((Why::NearCopy, copied));
            }
        }
        if new.lang != old.lang || conflicts(new, old) {
            return None;
        }
        if let Some(story) = self.stories.get(&entry.story)
            && conflicts(new, &story.head)
        {
            return None;
        }
        let similarity = self.cosine(new, old);
        let (shared, needed) = self.shared_actors(new, old);
        let threshold = if needed == 0 {
            self.params.rewrite + self.params.rewrite_without_actors
        } else {
            self.params.rewrite
        };
        (similarity >= threshold && shared >= needed).then_some((Why::Rewrite, similarity))
    }

    /// The cosine of the two items' term vectors weighted by tf·idf.
    fn cosine(&self, left: &Fingerprint, right: &Fingerprint) -> f64 {
        let weight = |(term, tf): &(u64, f32)| f64::from(*tf) * self.idf(*term);
        let norm = |terms: &[(u64, f32)]| terms.iter().map(|pair| weight(pair).powi(2)).sum::<f64>().sqrt();
        let (left_norm, right_norm) = (norm(&left.terms), norm(&right.terms));
        if left_norm == 0.0 || right_norm == 0.0 {
            return 0.0;
        }
        let (mut i, mut j, mut dot) = (0, 0, 0.0);
        while i < left.terms.len() && j < right.terms.len() {
            match left.terms[i].0.cmp(&right.terms[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    let idf = self.idf(left.terms[i].0);
                    dot += f64::from(left.terms[i].1) * f64::from(right.terms[j].1) * idf * idf;
                    i += 1;
                    j += 1;
                }
            }
        }
        dot / (left_norm * right_norm)
    }

    /// The main actors (the three with the highest count·idf) of each item found among the
    /// other's actors, and how many must be: two, or fewer when an item names fewer.
    fn shared_actors(&self, left: &Fingerprint, right: &Fingerprint) -> (usize, usize) {
        let main = |fingerprint: &Fingerprint| {
            let mut ranked: Vec<(f64, u64)> = fingerprint
                .actors
                .iter()
                .map(|(actor, count)| (f64::from(*count) * self.idf(*actor), *actor))
                .collect();
            ranked.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            ranked.into_iter().take(3).map(|(_, actor)| actor).collect::<Vec<u64>>()
        };
        let has = |fingerprint: &Fingerprint, actor: u64| fingerprint.actors.iter().any(|(a, _)| *a == actor);
        let (left_main, right_main) = (main(left), main(right));
        let needed = 2.min(left_main.len()).min(right_main.len());
        let left_found = left_main.iter().filter(|actor| has(right, **actor)).count();
        let right_found = right_main.iter().filter(|actor| has(left, **actor)).count();
        (left_found.min(right_found), needed)
    }
}

/// Details that make two items about the same people two different events.
fn conflicts(left: &Fingerprint, right: &Fingerprint) -> bool {
    let modes =
        matches!((left.mode, right.mode), (Mode::Planned, Mode::Happened) | (Mode::Happened, Mode::Planned));
    let predicates = matches!(
        (left.predicate, right.predicate),
        (Predicate::Call, Predicate::Meeting) | (Predicate::Meeting, Predicate::Call)
    );
    let venues = venues_differ(left, right);
    let days = !left.days.is_empty()
        && !right.days.is_empty()
        && !left.days.iter().any(|day| right.days.contains(day));
    modes || predicates || venues || days || left.repeat != right.repeat
}

/// Both items name a venue, and no venue is common to both.
fn venues_differ(left: &Fingerprint, right: &Fingerprint) -> bool {
    !left.venues.is_empty()
        && !right.venues.is_empty()
        && !left.venues.iter().any(|venue| right.venues.contains(venue))
}
