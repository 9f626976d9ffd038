//! The store's story records (issue 12): domain types only, no database type. The recorder
//! decides (with the pure `story::Clusterer`); the store writes what it decided in the
//! transaction that marks the item seen, and reads it back at start-up and for the CLI.

/// One clustered item, as the recorder files it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoryItemRow {
    pub item_key: String,
    /// The story's stable id.
    pub story: String,
    /// The published time the clusterer used (Unix seconds).
    pub published: i64,
    /// `same_url`, `near_copy` or `rewrite`; None when the item started the story.
    pub why: Option<String>,
    pub similarity: Option<f64>,
    /// The key of the item it was found similar to.
    pub matched: Option<String>,
    pub feed: String,
    /// The outlet: the link's host without `www.`, else the feed's name.
    pub outlet: String,
    pub title: String,
    pub url: Option<String>,
    /// The topics the item matched.
    pub topics: Vec<String>,
    /// The start of the body. No longer written (the fingerprint is stored instead); kept
    /// for items recorded before schema 8.
    pub text: String,
    /// The clusterer's slot for the item (unique, growing with recording order).
    pub slot: i64,
    /// The slot of the story's first item, as the clusterer knows the story.
    pub story_slot: i64,
    /// The encoded fingerprint (`story::encode_fingerprint`); empty: none is stored.
    pub print: Vec<u8>,
    /// The lookup keys the item was filed under.
    pub keys: Vec<u64>,
}

/// One change to the story tables, applied in order inside the recording transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum StoryOp {
    /// Files an item in its story (creating the story when `why` is None) and counts it.
    Item(Box<StoryItemRow>),
    /// A story's alert state for a topic after an alert (`new_story` or `update`).
    AlertState { story: String, topic: String, first_alert_id: String, last_alert_at: i64, sequence: i64 },
    /// A matching newcomer waiting for the next update (`body`: its own alert line).
    Pending { story: String, topic: String, item_key: String, body: String },
    /// The newcomers of a story and topic went out in an update.
    ClearPending { story: String, topic: String },
}

/// A stored item of the window, for rebuilding the clusterer.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowItem {
    pub item_key: String,
    pub story: String,
    pub published: i64,
    pub outlet: String,
    pub title: String,
    pub url: Option<String>,
    /// The stored text: only items recorded before schema 8 (without `print`) have one.
    pub text: String,
    /// The clusterer's slot and the slot of the story's first item (None before schema 8).
    pub slot: Option<i64>,
    pub story_slot: Option<i64>,
    /// The encoded fingerprint (None before schema 8).
    pub print: Option<Vec<u8>>,
}

/// An older item of the window found through its lookup keys: what the clusterer needs to
/// compare a new item with it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPrint {
    pub slot: i64,
    pub story_slot: i64,
    pub published: i64,
    pub item_key: String,
    pub story: String,
    /// The encoded fingerprint.
    pub print: Vec<u8>,
    /// The encoded fingerprint of the story's first item, when it is another item and still
    /// stored.
    pub head: Option<Vec<u8>>,
    /// The story's counts and its alert state per topic, as stored now.
    pub state: Option<(StorySummary, Vec<StoryAlertState>)>,
}

/// A story's counts.
#[derive(Debug, Clone, PartialEq)]
pub struct StorySummary {
    pub id: String,
    pub title: String,
    pub items: i64,
    pub outlets: Vec<String>,
    pub last_item_at: i64,
}

/// A story's alert state for one topic.
#[derive(Debug, Clone, PartialEq)]
pub struct StoryAlertState {
    pub story: String,
    pub topic: String,
    pub first_alert_id: String,
    pub last_alert_at: i64,
    pub sequence: i64,
}

/// A newcomer waiting for its story's next update.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingNewcomer {
    pub story: String,
    pub topic: String,
    pub item_key: String,
    pub recorded_at: i64,
    pub body: String,
}

/// What start-up reads back: the newest items of the window (oldest first), their stories
/// and those of the pending newcomers with their alert states, and every pending newcomer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoryWindow {
    pub items: Vec<WindowItem>,
    /// The slot after the highest stored one (0 when none is).
    pub next_slot: i64,
    /// Fingerprints of the first items of the restored items' stories that are not among
    /// `items`: (slot, encoded fingerprint).
    pub heads: Vec<(i64, Vec<u8>)>,
    /// Items of the window left out because there were more than the limit.
    pub items_left_out: i64,
    pub stories: Vec<StorySummary>,
    pub alerts: Vec<StoryAlertState>,
    pub pending: Vec<PendingNewcomer>,
}

/// One item of a story, for `newswatch stories`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoryMember {
    pub key: String,
    pub published: i64,
    pub recorded_at: i64,
    pub why: Option<String>,
    pub similarity: Option<f64>,
    pub matched: Option<String>,
    pub feed: String,
    pub outlet: String,
    pub title: String,
    pub url: Option<String>,
    pub topics: Vec<String>,
}

/// A story with its items, for `newswatch stories`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoryView {
    pub id: String,
    pub title: String,
    pub started_at: i64,
    pub last_item_at: i64,
    pub items: i64,
    pub outlets: i64,
    /// Topics that alerted on the story, with the updates each sent.
    pub alerts: Vec<(String, i64)>,
    pub members: Vec<StoryMember>,
}

/// Where a recorder's story book stands against the shared story tables: the next slot to hand
/// out and the last story change it has seen (`Store::lock_stories`). Only a shared store
/// (PostgreSQL) has marks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoryMarks {
    /// The slot after every slot any instance has handed out.
    pub next_slot: i64,
    /// The newest story change (`stories.change_seq`) the book knows.
    pub change: i64,
}

/// What other instances filed since a book's marks, read under the story lock: the book files
/// it before it clusters anything, so it compares and counts as if it had filed it itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StorySync {
    /// The marks now (with the lock held, nobody else can move them).
    pub marks: StoryMarks,
    /// Items filed at or after the book's next slot (oldest first), each with its story and,
    /// when the story's first item is another one, that item's fingerprint. `state` is None:
    /// the changed stories' state is in `stories`, `alerts` and `pending`.
    pub prints: Vec<StoredPrint>,
    /// More items were filed, or more stories changed, than the limit: the book is too far
    /// behind to catch up this way and is rebuilt.
    pub behind: bool,
    /// Every story changed since the book's change mark, as stored now.
    pub stories: Vec<StorySummary>,
    /// The alert states of those stories (all their topics).
    pub alerts: Vec<StoryAlertState>,
    /// The newcomers waiting in those stories.
    pub pending: Vec<PendingNewcomer>,
}
