//! The recorder's story book: the clusterer's window, each story's counts and each (story,
//! topic)'s alert state, kept in memory by the recorder (the one writer) and mirrored in the
//! store by the [`StoryOp`]s it returns, which the recorder writes in the transaction that
//! marks the item seen. Deciding is pure (no I/O here); [`StoryBook::restore`] rebuilds the
//! book from the store at start-up.
//!
//! Start-up reads only the newest [`MAX_RESTORED_ITEMS`] items of the window, as stored
//! fingerprints (nothing is fingerprinted again). Older items of the window stay in the store:
//! before each batch the recorder asks the store which of them share a lookup key with the
//! batch's items ([`StoryBook::lookup_keys`], `Store::story_candidates`), reads the fingerprints
//! of those it does not hold (`Store::story_prints`, [`StoryBook::hydrate`]), and the
//! clusterer's [`LayeredIndex`] offers them as candidates after the ones it holds. The cost per
//! item is a few indexed look-ups, whatever the size of the window. A running book treats its
//! own oldest items the same way once it holds more than [`MAX_HELD_ITEMS`]: memory does not
//! grow with the number of items a window brings.
//!
//! Several instances on one PostgreSQL database each keep a book, and file their batches one
//! at a time under the store's story lock: before a batch, [`StoryBook::apply_sync`] files what
//! the others recorded since the book's [`StoryMarks`] (their items, and the state of every
//! story they changed, which replaces the book's copy), so the book decides as if it had
//! recorded everything itself.
//!
//! Alert rules (README, "Alerts"): the first matching item of a story for a topic raises a
//! `new_story` alert (its id is the item's own `alert_id`); a later one, under `on_same_story =
//! "update"`, waits in `story_pending` until `update_every` has passed since the story's last
//! alert for the topic, then goes out with the other newcomers (the newest [`MAX_NEWCOMERS`]
//! listed) in one `update` alert whose id is `update_alert_id(story, topic, sequence)`; under
//! `"suppress"` it is only recorded.

use crate::alert::{Alert, KIND_NEW_STORY, KIND_UPDATE, Newcomer, story_id, to_json_line, update_alert_id};
use crate::config::{OnSameStory, StoriesConfig};
use crate::model::Classified;
use crate::store::{
    PendingNewcomer, StoredPrint, StoryAlertState, StoryItemRow, StoryMarks, StoryOp, StorySummary,
    StorySync, StoryWindow,
};
use crate::story::{
    CANDIDATES_PER_KEY, CandidateIndex, Clusterer, MemoryIndex, Slot, StoryParams, decode_fingerprint,
    encode_fingerprint,
};
use std::collections::{BTreeSet, HashMap, VecDeque};

/// The most items of the window start-up reads back: the newest ones, each a stored fingerprint
/// to decode (a few microseconds). The older ones are found through the store's key table when a
/// new item shares a key with them.
pub const MAX_RESTORED_ITEMS: usize = 2_000;

/// The most items of the window a running book holds in memory (a fingerprint and its index
/// entries are ~4 KiB): past this, the oldest are dropped from memory and found through the
/// store's key table like the items start-up leaves there, so memory stays flat however many
/// items a day brings (a cold round of 10,000 feeds held 50,000 items, ~200 MiB). As many as
/// start-up reads back ([`MAX_RESTORED_ITEMS`]): 4,000 cost the load bench's daemon ~9 MiB
/// more at 10,000 feeds for the same decisions (the layered index finds the rest in the store).
pub const MAX_HELD_ITEMS: usize = MAX_RESTORED_ITEMS;

/// The most newcomers an update alert lists (the newest; `story_items` counts them all). A
/// wire story that hundreds of feeds carry within one `update_every` would otherwise make an
/// update alert of hundreds of entries, and hold each in memory until then.
pub const MAX_NEWCOMERS: usize = 50;

/// The clusterer's index in the recorder: the items it holds in memory (the restored ones and
/// every item since), then the older items of the window that the store found under the same
/// keys for the current batch. Per key, the newest `per_key` of the two together, as one
/// in-memory index of the whole window would give.
#[derive(Debug, Default)]
pub struct LayeredIndex {
    memory: MemoryIndex,
    stored: HashMap<u64, Vec<Slot>>,
}

impl CandidateIndex for LayeredIndex {
    fn insert(&mut self, slot: Slot, keys: &[u64]) {
        self.memory.insert(slot, keys);
    }

    fn candidates(&self, keys: &[u64], per_key: usize, out: &mut Vec<Slot>) {
        for key in keys {
            let before = out.len();
            self.memory.candidates(std::slice::from_ref(key), per_key, out);
            let room = per_key.saturating_sub(out.len() - before);
            if let Some(stored) = self.stored.get(key) {
                out.extend(stored.iter().take(room));
            }
        }
    }

    fn remove(&mut self, slot: Slot, keys: &[u64]) {
        self.memory.remove(slot, keys);
    }
}

/// Story rows are deleted this long after their last item's publication (the window is at most
/// 30 days, so no item can join them any more).
pub const STORY_RETENTION_SECS: i64 = 30 * 86_400;

/// What the recorder writes for one new item: its story changes and the alerts to queue.
#[derive(Debug, Default)]
pub struct Plan {
    /// Story changes, written in the item's savepoint.
    pub ops: Vec<StoryOp>,
    /// Alerts to queue for the item (`new_story`, an update that fell due, or none).
    pub alerts: Vec<Alert>,
}

struct SlotInfo {
    key: String,
    story: String,
}

struct StoryCounts {
    items: u32,
    outlets: BTreeSet<String>,
    last_published: i64,
}

impl From<StoryAlertState> for AlertState {
    /// A stored alert state; newcomers waiting for its update are read apart.
    fn from(state: StoryAlertState) -> AlertState {
        AlertState {
            first_alert_id: state.first_alert_id,
            last_alert_at: state.last_alert_at,
            sequence: state.sequence,
            newest: None,
            newcomers: VecDeque::new(),
        }
    }
}

impl From<StorySummary> for StoryCounts {
    fn from(story: StorySummary) -> StoryCounts {
        StoryCounts {
            items: u32::try_from(story.items).unwrap_or(u32::MAX),
            outlets: story.outlets.into_iter().collect(),
            last_published: story.last_item_at,
        }
    }
}

struct AlertState {
    first_alert_id: String,
    last_alert_at: i64,
    sequence: i64,
    /// The newest newcomer since the last alert, in full: the update alert is built on it.
    newest: Option<Box<Alert>>,
    /// The newcomers since the last alert that the update lists, oldest first: the newest
    /// [`MAX_NEWCOMERS`] only, each as the update shows it (title, feed, link, date), so a
    /// story that many feeds carry within one `update_every` holds a bounded list.
    newcomers: VecDeque<Newcomer>,
}

impl AlertState {
    /// Files a newcomer for the next update.
    fn push_newcomer(&mut self, alert: Alert) {
        if self.newcomers.len() == MAX_NEWCOMERS {
            self.newcomers.pop_front();
        }
        self.newcomers.push_back(Newcomer {
            title: alert.title.clone(),
            feed: alert.feed.clone(),
            url: alert.url.clone(),
            published: alert.published.clone(),
        });
        self.newest = Some(Box::new(alert));
    }
}

/// The recorder's story state. Owned by the recorder task; moved to the CPU pool and back for
/// each batch.
pub struct StoryBook {
    clusterer: Clusterer<LayeredIndex>,
    /// The lookup keys of the current batch's items ([`StoryBook::lookup_keys`]).
    batch_keys: Vec<Vec<u64>>,
    /// Slots below this may be in the store and not here (None: the book holds the whole
    /// window, nothing to look up).
    stored_below: Option<Slot>,
    config: StoriesConfig,
    window_secs: i64,
    slots: HashMap<Slot, SlotInfo>,
    slot_order: VecDeque<(i64, Slot)>,
    stories: HashMap<String, StoryCounts>,
    alerts: HashMap<(String, String), AlertState>,
    /// (story, topic) with newcomers waiting.
    pending: BTreeSet<(String, String)>,
    /// The most window items held in memory ([`MAX_HELD_ITEMS`]).
    max_held: usize,
    latest_published: i64,
    /// Where the book stands against a shared store's story tables (None: not shared, or not
    /// synced yet).
    marks: Option<StoryMarks>,
}

/// The outlet of an item: its link's host without `www.`, else its feed's name.
pub fn outlet(link: Option<&url::Url>, feed: &str) -> String {
    link.and_then(|link| link.host_str())
        .map(|host| host.strip_prefix("www.").unwrap_or(host).to_ascii_lowercase())
        .unwrap_or_else(|| feed.to_string())
}

impl StoryBook {
    /// An empty book.
    pub fn new(config: StoriesConfig) -> StoryBook {
        let window_secs = i64::try_from(config.window.as_secs()).unwrap_or(i64::MAX / 4);
        let params = StoryParams { window_secs, ..StoryParams::default() };
        StoryBook {
            clusterer: Clusterer::with_index(params, LayeredIndex::default()),
            batch_keys: Vec::new(),
            stored_below: None,
            config,
            window_secs,
            slots: HashMap::new(),
            slot_order: VecDeque::new(),
            stories: HashMap::new(),
            alerts: HashMap::new(),
            pending: BTreeSet::new(),
            max_held: MAX_HELD_ITEMS,
            latest_published: i64::MIN,
            marks: None,
        }
    }

    /// The window, in seconds.
    pub fn window_secs(&self) -> i64 {
        self.window_secs
    }

    /// Rebuilds a book from what the store read back ([`crate::store::Store::story_window`]):
    /// the newest items of the window, each filed under its stored slot in its stored story
    /// (whatever the clusterer would decide today). Items recorded before schema 8 have no
    /// stored fingerprint and are fingerprinted again from their text. When the window holds
    /// more items than were read, the older ones are looked up in the store as needed.
    pub fn restore(config: StoriesConfig, window: StoryWindow) -> StoryBook {
        let mut book = StoryBook::new(config);
        let next_slot = Slot::try_from(window.next_slot).unwrap_or(0);
        book.clusterer.resume_slots_at(next_slot);
        let heads: HashMap<Slot, crate::story::Fingerprint> = window
            .heads
            .iter()
            .filter_map(|(slot, print)| Some((Slot::try_from(*slot).ok()?, decode_fingerprint(print)?)))
            .collect();
        // Items without a stored slot (recorded before schema 8) get new ones, numbered after
        // the stored ones; their stories are known here by id.
        let mut legacy_stories: HashMap<String, Slot> = HashMap::new();
        let mut oldest_restored = next_slot;
        for item in window.items.iter().rev() {
            let stored =
                match (item.slot, item.story_slot, item.print.as_deref().and_then(decode_fingerprint)) {
                    (Some(slot), Some(story_slot), Some(fingerprint)) => Slot::try_from(slot)
                        .ok()
                        .zip(Slot::try_from(story_slot).ok())
                        .map(|s| (s, fingerprint)),
                    _ => None,
                };
            let (slot, story_slot, fingerprint) = match stored {
                Some(((slot, story_slot), fingerprint)) => {
                    oldest_restored = oldest_restored.min(slot);
                    (slot, story_slot, fingerprint)
                }
                None => {
                    let fingerprint = crate::story::fingerprint(&item.title, &item.text, item.url.as_deref());
                    let slot = book.clusterer.next_slot();
                    let story_slot = *legacy_stories.entry(item.story.clone()).or_insert(slot);
                    (slot, story_slot, fingerprint)
                }
            };
            book.clusterer.file(slot, story_slot, item.published, fingerprint, heads.get(&story_slot), true);
            book.file_slot(slot, item.item_key.clone(), item.story.clone(), item.published);
        }
        if window.items_left_out > 0 {
            book.stored_below = Some(oldest_restored);
        }
        for story in window.stories {
            book.stories.insert(story.id.clone(), StoryCounts::from(story));
        }
        for state in window.alerts {
            book.alerts.insert((state.story.clone(), state.topic.clone()), AlertState::from(state));
        }
        for newcomer in window.pending {
            book.add_pending(newcomer);
        }
        book
    }

    /// Files a newcomer read back from the store as waiting for its story's next update.
    fn add_pending(&mut self, newcomer: PendingNewcomer) {
        // A body the store holds was written by a recorder; one that does not parse (a newer
        // version's) is left to that version.
        let Ok(alert) = serde_json::from_str::<Alert>(&newcomer.body) else { return };
        let key = (newcomer.story, newcomer.topic);
        let state = self.alerts.entry(key.clone()).or_insert_with(|| AlertState {
            first_alert_id: alert.id.clone(),
            last_alert_at: newcomer.recorded_at,
            sequence: 0,
            newest: None,
            newcomers: VecDeque::new(),
        });
        state.push_newcomer(alert);
        self.pending.insert(key);
    }

    /// Where the book stands against a shared store (None: not shared, or not synced yet).
    pub fn marks(&self) -> Option<StoryMarks> {
        self.marks
    }

    /// Records where the book stands after its own batch was committed under the story lock.
    pub fn set_marks(&mut self, marks: StoryMarks) {
        self.clusterer.resume_slots_at(Slot::try_from(marks.next_slot).unwrap_or(0));
        self.marks = Some(marks);
    }

    /// Files what other instances recorded since the book's marks (read under the story lock,
    /// `Store::lock_stories`): their items join the window (indexed, as if filed here), and
    /// the stories they changed take their state from the store — counts, outlets, alert
    /// states and waiting newcomers — replacing what the book held. Slots continue after
    /// every instance's. False when the book is too far behind to catch up this way (it is
    /// then rebuilt from the store).
    pub fn apply_sync(&mut self, sync: StorySync) -> bool {
        if sync.behind {
            return false;
        }
        for print in sync.prints {
            let (Ok(slot), Ok(story_slot)) = (Slot::try_from(print.slot), Slot::try_from(print.story_slot))
            else {
                continue;
            };
            if self.clusterer.contains(slot) {
                continue;
            }
            // A blob that does not decode (a newer version's) leaves the item out of candidacy.
            let Some(fingerprint) = decode_fingerprint(&print.print) else { continue };
            let head = print.head.as_deref().and_then(decode_fingerprint);
            self.clusterer.file(slot, story_slot, print.published, fingerprint, head.as_ref(), true);
            self.file_slot(slot, print.item_key, print.story, print.published);
        }
        let changed: std::collections::HashSet<String> =
            sync.stories.iter().map(|story| story.id.clone()).collect();
        self.alerts.retain(|(story, _), _| !changed.contains(story));
        self.pending.retain(|(story, _)| !changed.contains(story));
        for story in sync.stories {
            self.stories.insert(story.id.clone(), StoryCounts::from(story));
        }
        for state in sync.alerts {
            self.alerts.insert((state.story.clone(), state.topic.clone()), AlertState::from(state));
        }
        for newcomer in sync.pending {
            self.add_pending(newcomer);
        }
        self.set_marks(sync.marks);
        self.forget_old();
        true
    }

    /// The lookup keys of a batch's new items, and the slot below which the store may hold
    /// window items this book does not: None when it holds the whole window.
    pub fn lookup_keys<'a>(
        &mut self,
        messages: impl Iterator<Item = &'a Classified>,
    ) -> Option<(Vec<u64>, Slot)> {
        self.release_oldest();
        let below = self.stored_below?;
        self.batch_keys = messages
            .filter_map(|message| message.fingerprint.as_ref())
            .map(|fingerprint| self.clusterer.lookup_keys(fingerprint))
            .collect();
        let mut keys: Vec<u64> = self.batch_keys.iter().flatten().copied().collect();
        keys.sort_unstable();
        keys.dedup();
        Some((keys, below))
    }

    /// Offers the store's older items under each key as candidates for the next items, and
    /// returns the slots whose fingerprints this book does not hold yet among those each item
    /// will compare itself with (its best-ranked candidates, as `Clusterer::add` ranks them:
    /// most keys shared, then newest), so that only those are read.
    pub fn offer_stored(&mut self, found: Vec<(u64, Vec<i64>)>) -> Vec<i64> {
        let stored = &mut self.clusterer.index_mut().stored;
        stored.clear();
        for (key, slots) in found {
            let slots: Vec<Slot> = slots.into_iter().filter_map(|slot| Slot::try_from(slot).ok()).collect();
            stored.insert(key, slots);
        }
        let compared = StoryParams::default().max_candidates;
        let mut missing: Vec<i64> = Vec::new();
        let mut found = Vec::new();
        for keys in std::mem::take(&mut self.batch_keys) {
            found.clear();
            self.clusterer.index().candidates(&keys, CANDIDATES_PER_KEY, &mut found);
            found.sort_unstable();
            let mut ranked: Vec<(Slot, u32)> = Vec::with_capacity(found.len());
            for slot in &found {
                match ranked.last_mut() {
                    Some((last, votes)) if last == slot => *votes += 1,
                    _ => ranked.push((*slot, 1)),
                }
            }
            ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
            missing.extend(
                ranked
                    .iter()
                    .take(compared)
                    .filter(|(slot, _)| !self.clusterer.contains(*slot))
                    .filter_map(|(slot, _)| i64::try_from(*slot).ok()),
            );
        }
        missing.sort_unstable();
        missing.dedup();
        missing
    }

    /// Files older items of the window that the store read back for the current batch.
    pub fn hydrate(&mut self, prints: Vec<StoredPrint>) {
        for print in prints {
            let (Ok(slot), Ok(story_slot)) = (Slot::try_from(print.slot), Slot::try_from(print.story_slot))
            else {
                continue;
            };
            // A blob that does not decode (a newer version's) leaves the item out of candidacy.
            let Some(fingerprint) = decode_fingerprint(&print.print) else { continue };
            let head = print.head.as_deref().and_then(decode_fingerprint);
            self.clusterer.file(slot, story_slot, print.published, fingerprint, head.as_ref(), false);
            // The story's counts and alert states as stored: this book has not seen the story
            // since start-up (else it would hold them already, newer than the store's).
            if let Some((summary, states)) = print.state {
                if !self.stories.contains_key(&summary.id) {
                    self.stories.insert(summary.id.clone(), StoryCounts::from(summary));
                }
                for state in states {
                    let key = (state.story.clone(), state.topic.clone());
                    self.alerts.entry(key).or_insert_with(|| AlertState::from(state));
                }
            }
            self.slots.insert(slot, SlotInfo { key: print.item_key, story: print.story });
            self.slot_order.push_back((print.published, slot));
        }
    }

    /// Holds at most `max_held` items of the window (see [`MAX_HELD_ITEMS`]); tests use a
    /// small cap to reach it with a few items.
    #[cfg(test)]
    pub(crate) fn set_max_held(&mut self, max_held: usize) {
        self.max_held = max_held.max(1);
    }

    /// Drops the oldest items from memory once the book holds a quarter more than `max_held`
    /// (so the work is done once per many batches), down to `max_held`. They were recorded in
    /// earlier batches, so the store has them: from now on slots below the newest dropped one
    /// are looked up there, like the items start-up did not read back.
    fn release_oldest(&mut self) {
        if self.clusterer.window_items() <= self.max_held + self.max_held / 4 {
            return;
        }
        let Some(below) = self.clusterer.hold_newest(self.max_held) else { return };
        self.stored_below = Some(self.stored_below.map_or(below, |stored| stored.max(below)));
        self.slots.retain(|slot, _| *slot >= below);
        self.slot_order.retain(|(_, slot)| *slot >= below);
    }

    /// Ends the current batch's offer of stored candidates.
    pub fn clear_stored(&mut self) {
        self.clusterer.index_mut().stored.clear();
    }

    fn file_slot(&mut self, slot: Slot, key: String, story: String, published: i64) {
        self.slots.insert(slot, SlotInfo { key, story });
        self.slot_order.push_back((published, slot));
        self.latest_published = self.latest_published.max(published);
    }

    /// Files a new item in its story and decides its alerts (`item_alerts`: one per matching
    /// topic, as `alerts_for` builds them). None when the item has no fingerprint.
    pub fn plan(&mut self, message: &Classified, item_alerts: Vec<Alert>, now: i64) -> Option<Plan> {
        let fingerprint = message.fingerprint.clone()?;
        let item = &message.article.item;
        let entry = &item.entry;
        let published = entry.published.or(entry.updated).map_or(now, |at| at.timestamp()).min(now);
        let print = encode_fingerprint(&fingerprint);
        let decision = self.clusterer.add(published, fingerprint);
        let joined = match (decision.why, decision.matched.and_then(|slot| self.slots.get(&slot))) {
            (Some(why), Some(matched)) => Some((matched.story.clone(), why, matched.key.clone())),
            _ => None,
        };
        let story = joined.as_ref().map_or_else(|| story_id(&entry.key), |(story, _, _)| story.clone());
        self.file_slot(decision.slot, entry.key.clone(), story.clone(), published);
        let outlet = outlet(entry.link.as_ref(), &item.feed);
        let counts = self.stories.entry(story.clone()).or_insert(StoryCounts {
            items: 0,
            outlets: BTreeSet::new(),
            last_published: published,
        });
        counts.items = counts.items.saturating_add(1);
        counts.outlets.insert(outlet.clone());
        counts.last_published = counts.last_published.max(published);
        let (story_items, story_outlets) = (counts.items, counts.outlets.len() as u32);

        let mut plan = Plan::default();
        plan.ops.push(StoryOp::Item(Box::new(StoryItemRow {
            item_key: entry.key.clone(),
            story: story.clone(),
            published,
            why: joined.as_ref().map(|(_, why, _)| why.as_str().to_string()),
            similarity: joined
                .as_ref()
                .and(decision.similarity)
                .map(|value| (value * 1000.0).round() / 1000.0),
            matched: joined.as_ref().map(|(_, _, key)| key.clone()),
            feed: item.feed.to_string(),
            outlet,
            title: crate::text::truncate_chars(&message.article.title, crate::alert::MAX_TITLE_CHARS),
            url: entry.link.as_ref().map(|link| link.to_string()),
            topics: item_alerts.iter().map(|alert| alert.topic.clone()).collect(),
            text: String::new(),
            slot: i64::try_from(decision.slot).unwrap_or(i64::MAX),
            story_slot: i64::try_from(decision.story).unwrap_or(i64::MAX),
            print,
            keys: self.clusterer.item_keys(decision.slot).to_vec(),
        })));
        for mut alert in item_alerts {
            alert.story = Some(story.clone());
            alert.story_items = Some(story_items);
            alert.story_outlets = Some(story_outlets);
            let key = (story.clone(), alert.topic.clone());
            let policy = self.config.policy(&alert.topic);
            if let std::collections::hash_map::Entry::Vacant(vacant) = self.alerts.entry(key.clone()) {
                alert.kind = Some(KIND_NEW_STORY.to_string());
                plan.ops.push(StoryOp::AlertState {
                    story: story.clone(),
                    topic: alert.topic.clone(),
                    first_alert_id: alert.id.clone(),
                    last_alert_at: now,
                    sequence: 0,
                });
                let state = AlertState {
                    first_alert_id: alert.id.clone(),
                    last_alert_at: now,
                    sequence: 0,
                    newest: None,
                    newcomers: VecDeque::new(),
                };
                vacant.insert(state);
                plan.alerts.push(alert);
                continue;
            }
            alert.kind = Some(KIND_UPDATE.to_string());
            match policy.on_same_story {
                OnSameStory::Suppress => continue,
                OnSameStory::Alert => {
                    if let Some(state) = self.alerts.get_mut(&key) {
                        state.last_alert_at = now;
                    }
                    plan.alerts.push(alert);
                    continue;
                }
                OnSameStory::Update => {}
            }
            // Serialising a struct of strings and numbers cannot fail.
            let body = to_json_line(&alert).expect("alert serialises");
            let Some(state) = self.alerts.get_mut(&key) else { continue };
            state.push_newcomer(alert);
            let due = now >= state.last_alert_at.saturating_add(secs(policy.update_every));
            self.pending.insert(key.clone());
            if due {
                let (update, ops) = self.send_update(&key, now);
                plan.ops.extend(ops);
                plan.alerts.extend(update);
            } else {
                plan.ops.push(StoryOp::Pending {
                    story: key.0,
                    topic: key.1,
                    item_key: entry.key.clone(),
                    body,
                });
            }
        }
        self.forget_old();
        Some(plan)
    }

    /// The update alert of a story and topic with its newcomers, and the changes that record
    /// it; clears the newcomers.
    fn send_update(&mut self, key: &(String, String), now: i64) -> (Option<Alert>, Vec<StoryOp>) {
        self.pending.remove(key);
        let counts = self.stories.get(&key.0).map(|counts| (counts.items, counts.outlets.len() as u32));
        let Some(state) = self.alerts.get_mut(key) else { return (None, Vec::new()) };
        let newcomers = std::mem::take(&mut state.newcomers);
        let Some(newest) = state.newest.take() else { return (None, Vec::new()) };
        state.sequence += 1;
        state.last_alert_at = now;
        let (story_items, story_outlets) =
            counts.unwrap_or((newest.story_items.unwrap_or(0), newest.story_outlets.unwrap_or(0)));
        let update = Alert {
            id: update_alert_id(&key.0, &key.1, state.sequence),
            kind: Some(KIND_UPDATE.to_string()),
            detected_at: rfc3339(now),
            story_items: Some(story_items),
            story_outlets: Some(story_outlets),
            newcomers: newcomers.into(),
            ..*newest
        };
        let ops = vec![
            StoryOp::ClearPending { story: key.0.clone(), topic: key.1.clone() },
            StoryOp::AlertState {
                story: key.0.clone(),
                topic: key.1.clone(),
                first_alert_id: state.first_alert_id.clone(),
                last_alert_at: now,
                sequence: state.sequence,
            },
        ];
        (Some(update), ops)
    }

    /// The update alerts due at `now` (their `update_every` has passed since the story's last
    /// alert for the topic) and the changes that record them.
    pub fn due_updates(&mut self, now: i64) -> (Vec<Alert>, Vec<StoryOp>) {
        let due: Vec<(String, String)> = self
            .pending
            .iter()
            .filter(|key| {
                self.alerts.get(*key).is_some_and(|state| {
                    now >= state.last_alert_at.saturating_add(secs(self.config.policy(&key.1).update_every))
                })
            })
            .cloned()
            .collect();
        let (mut alerts, mut ops) = (Vec::new(), Vec::new());
        for key in due {
            let (update, changes) = self.send_update(&key, now);
            alerts.extend(update);
            ops.extend(changes);
        }
        (alerts, ops)
    }

    /// Whether an update is due at `now`.
    pub fn has_due(&self, now: i64) -> bool {
        self.pending.iter().any(|key| {
            self.alerts.get(key).is_some_and(|state| {
                now >= state.last_alert_at.saturating_add(secs(self.config.policy(&key.1).update_every))
            })
        })
    }

    /// Forgets slots and stories that can no longer be joined (two windows behind the newest
    /// item, keeping any story with newcomers waiting).
    fn forget_old(&mut self) {
        let cutoff = self.latest_published.saturating_sub(self.window_secs.saturating_mul(2));
        while let Some(&(published, slot)) = self.slot_order.front() {
            if published >= cutoff {
                break;
            }
            self.slot_order.pop_front();
            self.slots.remove(&slot);
        }
        if self.stories.len() > 2 * self.slots.len() + 1024 {
            let pending = &self.pending;
            self.stories.retain(|id, counts| {
                counts.last_published >= cutoff || pending.iter().any(|(story, _)| story == id)
            });
            let stories = &self.stories;
            self.alerts.retain(|(story, _), _| stories.contains_key(story));
        }
    }

    /// Stories and items in memory, for logs.
    pub fn sizes(&self) -> (usize, usize) {
        (self.stories.len(), self.clusterer.window_items())
    }
}

fn secs(duration: std::time::Duration) -> i64 {
    crate::time::secs_i64(duration)
}

fn rfc3339(unix_secs: i64) -> String {
    chrono::DateTime::from_timestamp(unix_secs, 0)
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
