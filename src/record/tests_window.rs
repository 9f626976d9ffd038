//! The story window beyond what start-up reads back: an item older than the restored slice is
//! found through the store's key table, joins its story, and leaves with the window.

use super::offer_stored_candidates;
use super::stories::StoryBook;
use crate::config::StoriesConfig;
use crate::model::{Article, Classified, Entry, Item, PollBatch, TextSource};
use crate::store::{ItemRecord, Store, StoryOp};
use std::sync::Arc;
use url::Url;

pub(super) const TALKS: &str = "US Secretary of State Marco Rubio and Russian Foreign Minister Sergei Lavrov met in Riyadh on Tuesday for more than four hours of talks, the first high-level contact between the two governments since the war in Ukraine began. The two sides agreed to restore the staffing of their embassies, to appoint teams to work on a path to ending the war, and to explore economic cooperation, a State Department spokeswoman said after the meeting at the Diriyah Palace.";

pub(super) fn message(key: &str, title: &str, body: &str, published: i64) -> Classified {
    let link = Url::parse(&format!("https://{key}.example/story")).unwrap();
    let entry = Entry {
        key: key.to_string(),
        link: Some(link.clone()),
        title: title.to_string(),
        summary: String::new(),
        published: chrono::DateTime::from_timestamp(published, 0),
        updated: None,
        authors: Vec::new(),
    };
    let item = Item {
        feed: Arc::from(key),
        feed_url: Arc::new(Url::parse("http://feeds.example/rss").unwrap()),
        entry,
        baseline_only: false,
        scrape: false,
        batch: Arc::new(PollBatch::new(1, crate::store::FeedCommit::default())),
    };
    let fingerprint = crate::story::fingerprint(title, body, Some(link.as_str()));
    let article =
        Article { item, title: title.to_string(), body: body.to_string(), source: TextSource::Page };
    let verdict = crate::classify::Verdict {
        topic: "talks".into(),
        score: 0.9,
        matched: title.contains("Lavrov"),
        reasons: Vec::new(),
        snippet: String::new(),
        clauses: Vec::new(),
        threshold: 0.5,
    };
    Classified { article, verdicts: vec![verdict], fingerprint: Some(fingerprint) }
}

/// Text about something else entirely, different for every `n`.
fn filler(n: usize) -> (String, String) {
    let words: Vec<String> = (0..60).map(|word| format!("w{n}x{word}")).collect();
    (format!("Harvest report number {n}"), words.join(" "))
}

/// Files and records one item with its alerts; returns its story id.
async fn record(store: &Store, book: &mut StoryBook, message: &Classified, now: i64) -> String {
    let alerts = super::alerts_for(message, chrono::Utc::now());
    let plan = book.plan(message, alerts, now).expect("a fingerprint");
    let StoryOp::Item(row) = &plan.ops[0] else { panic!("the item first") };
    let story = row.story.clone();
    let record = ItemRecord {
        key: message.article.item.entry.key.clone(),
        feed: message.article.item.feed.to_string(),
        story_ops: plan.ops,
        ..ItemRecord::default()
    };
    store.record_items(vec![record], now).await.unwrap();
    story
}

#[tokio::test]
async fn a_running_book_holds_at_most_its_cap_and_finds_older_items_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let now = chrono::Utc::now().timestamp();
    let mut book = StoryBook::new(StoriesConfig::default());
    book.set_max_held(8);
    // As the recorder does: the store is asked for older candidates before each item.
    async fn record_looked_up(store: &Store, book: &mut StoryBook, message: &Classified, now: i64) -> String {
        offer_stored_candidates(store, book, std::slice::from_ref(message), &[true], now).await.unwrap();
        let story = record(store, book, message, now).await;
        book.clear_stored();
        story
    }
    // The same look-up, then the item's plan without recording it.
    async fn plan_looked_up(
        store: &Store,
        book: &mut StoryBook,
        message: &Classified,
        alerts: Vec<crate::alert::Alert>,
        now: i64,
    ) -> super::stories::Plan {
        offer_stored_candidates(store, book, std::slice::from_ref(message), &[true], now).await.unwrap();
        let plan = book.plan(message, alerts, now).unwrap();
        book.clear_stored();
        plan
    }
    let talks = message("talks", "Lavrov and Rubio hold talks in Riyadh", TALKS, now - 3600);
    let talks_story = record_looked_up(&store, &mut book, &talks, now).await;
    for n in 0..30 {
        // Fillers that share no word, so that none reads another back from the store.
        let (_, body) = filler(n);
        let title = format!("w{n}t1 w{n}t2 w{n}t3");
        let filler = message(&format!("filler{n}"), &title, &body, now - 3000 + n as i64);
        record_looked_up(&store, &mut book, &filler, now).await;
        // Never more than the cap, the quarter it may grow by before dropping the oldest (at
        // the next batch's look-up) and the batch just filed: not one more per item recorded.
        assert!(book.sizes().1 <= 8 + 2 + 1, "{} items held after {} recorded", book.sizes().1, n + 2);
    }
    // The talks item left memory long ago; its reprint still joins its story, from the store.
    let reprint = format!("Sign up for our briefing. {TALKS} Copyright 2026 outlet seven.");
    let copy = message("reprint", "Rubio, Lavrov meet in Saudi capital", &reprint, now - 60);
    let plan =
        plan_looked_up(&store, &mut book, &copy, super::alerts_for(&copy, chrono::Utc::now()), now).await;
    let StoryOp::Item(row) = &plan.ops[0] else { panic!("the item first") };
    assert_eq!(row.story, talks_story);
    assert_eq!(row.why.as_deref(), Some("near_copy"));
    // A filler's reprint, held or not, joins its own story too, and nothing joins the wrong one.
    let (_, body) = filler(29);
    let again = message("filler29-again", "w29t1 w29t2 w29t3", &body, now - 30);
    let plan = plan_looked_up(&store, &mut book, &again, Vec::new(), now).await;
    let StoryOp::Item(row) = &plan.ops[0] else { panic!("the item first") };
    assert_eq!(row.matched.as_deref(), Some("filler29"));
}

#[tokio::test]
async fn an_item_older_than_the_restored_slice_is_found_in_the_store_and_joined() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let now = chrono::Utc::now().timestamp();
    let mut book = StoryBook::new(StoriesConfig::default());
    let talks = message("talks", "Lavrov and Rubio hold talks in Riyadh", TALKS, now - 3600);
    let talks_story = record(&store, &mut book, &talks, now).await;
    for n in 0..20 {
        let (title, body) = filler(n);
        record(&store, &mut book, &message(&format!("filler{n}"), &title, &body, now - 3000), now).await;
    }
    let since = now - 72 * 3600;
    let reprint = format!("Sign up for our briefing. {TALKS} Copyright 2026 outlet seven.");
    let copy = message("reprint", "Rubio, Lavrov meet in Saudi capital", &reprint, now - 60);

    // Start-up reads back only the newest five: the talks item is not among them.
    let window = store.story_window(since, 5).await.unwrap();
    assert_eq!((window.items.len(), window.items_left_out), (5, 16));
    let mut restored = StoryBook::restore(StoriesConfig::default(), window.clone());
    assert_eq!(restored.sizes().1, 5);
    // Without the store's key table, the reprint would start a story of its own...
    let mut memory_only = StoryBook::restore(StoriesConfig::default(), window);
    let plan = memory_only.plan(&copy, Vec::new(), now).unwrap();
    let StoryOp::Item(row) = &plan.ops[0] else { panic!("the item first") };
    assert_ne!(row.story, talks_story);
    // ...with it, the talks item is read back and the reprint joins its story.
    offer_stored_candidates(&store, &mut restored, std::slice::from_ref(&copy), &[true], now).await.unwrap();
    let plan = restored.plan(&copy, super::alerts_for(&copy, chrono::Utc::now()), now).unwrap();
    restored.clear_stored();
    let StoryOp::Item(row) = &plan.ops[0] else { panic!("the item first") };
    assert_eq!(row.story, talks_story);
    assert_eq!(row.why.as_deref(), Some("near_copy"));
    assert_eq!(row.matched.as_deref(), Some("talks"));
    // The story's alert state came with it: the reprint is no new story (an update waits for
    // `update_every`), and the story's counts go on from the stored ones.
    assert!(plan.alerts.is_empty(), "{:?}", plan.alerts);
    assert!(plan.ops.iter().any(|op| matches!(op, StoryOp::Pending { story, .. } if *story == talks_story)));
    assert_eq!(restored.sizes().1, 7, "the talks item is held now, with the reprint");

    // Once the window has passed, the fingerprints and keys are gone from the store.
    let keys = restored.lookup_keys([&talks].into_iter()).unwrap().0;
    assert!(!store.story_candidates(keys.clone(), i64::MAX, 32).await.unwrap().is_empty());
    store.prune_stories(now + 1, now - 86_400).await.unwrap();
    assert!(store.story_candidates(keys, i64::MAX, 32).await.unwrap().is_empty());
    assert_eq!(store.story_window(since, 5).await.unwrap().next_slot, 0);
}

#[test]
fn an_item_recorded_before_stored_fingerprints_is_fingerprinted_from_its_text() {
    let now = chrono::Utc::now().timestamp();
    let legacy = crate::store::WindowItem {
        item_key: "id:b".into(),
        story: "story-b".into(),
        published: now,
        outlet: "w.example".into(),
        title: "Lavrov and Rubio hold talks in Riyadh".into(),
        url: Some("https://w.example/b".into()),
        text: TALKS.into(),
        slot: None,
        story_slot: None,
        print: None,
    };
    let window = crate::store::StoryWindow { items: vec![legacy], next_slot: 40, ..Default::default() };
    let mut book = StoryBook::restore(StoriesConfig::default(), window);
    assert_eq!(book.sizes().1, 1);
    let reprint = format!("Sign up for our briefing. {TALKS} Copyright 2026 outlet seven.");
    let copy = message("reprint", "Rubio, Lavrov meet in Saudi capital", &reprint, now);
    let plan = book.plan(&copy, Vec::new(), now).unwrap();
    let StoryOp::Item(row) = &plan.ops[0] else { panic!("the item first") };
    assert_eq!((row.story.as_str(), row.why.as_deref()), ("story-b", Some("near_copy")));
    assert!(row.slot > 40, "new slots follow the stored ones: {}", row.slot);
}

#[test]
fn an_update_lists_the_newest_newcomers_up_to_the_cap_and_is_built_on_the_newest() {
    let now = chrono::Utc::now().timestamp();
    let mut book = StoryBook::new(StoriesConfig::default());
    let first = message("talks", "Lavrov and Rubio hold talks in Riyadh", TALKS, now - 7200);
    let plan = book.plan(&first, super::alerts_for(&first, chrono::Utc::now()), now - 7200).unwrap();
    assert_eq!(plan.alerts.len(), 1, "the story's first alert");
    let newcomers = super::stories::MAX_NEWCOMERS + 10;
    for n in 0..newcomers {
        let copy = message(
            &format!("outlet{n}"),
            &format!("Lavrov and Rubio hold talks in Riyadh, reprint {n}"),
            &format!("{TALKS} Reprinted by outlet {n}."),
            now - 7000 + n as i64,
        );
        let plan =
            book.plan(&copy, super::alerts_for(&copy, chrono::Utc::now()), now - 7000 + n as i64).unwrap();
        assert!(plan.alerts.is_empty(), "reprint {n} waits for the update");
    }
    let (updates, _) = book.due_updates(now + 86_400);
    let [update] = updates.as_slice() else { panic!("one update: {updates:?}") };
    let listed: Vec<&str> = update.newcomers.iter().map(|newcomer| newcomer.title.as_str()).collect();
    assert_eq!(listed.len(), super::stories::MAX_NEWCOMERS);
    assert_eq!(listed[0], "Lavrov and Rubio hold talks in Riyadh, reprint 10", "the oldest ones left out");
    assert_eq!(
        *listed.last().unwrap(),
        format!("Lavrov and Rubio hold talks in Riyadh, reprint {}", newcomers - 1)
    );
    assert_eq!(update.title, *listed.last().unwrap(), "the update is the newest newcomer's");
    assert_eq!(update.story_items, Some(newcomers as u32 + 1), "every item is counted");
    // The next update starts afresh.
    assert!(book.due_updates(now + 2 * 86_400).0.is_empty());
}
