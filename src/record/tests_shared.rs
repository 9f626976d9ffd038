//! Stories shared by instances on one PostgreSQL database: two recorders (two store handles,
//! two books) file reports of one event in turn. Each batch runs under the story lock and
//! first files what the other recorded, so the second report joins the first one's story (no
//! second `new_story`), update sequences continue across instances (no two updates with one
//! id), and slots stay unique. Runs when `NEWSWATCH_TEST_PG` names a database.

use super::stories::StoryBook;
use super::tests_window::{TALKS, message};
use super::{lock_and_sync, record_batch, release_stories};
use crate::alert::{KIND_NEW_STORY, KIND_UPDATE, update_alert_id};
use crate::config::{OnSameStory, StoriesConfig, StoryPolicy};
use crate::store::Store;
use crate::store::tests::{fresh_stores, pg_store};
use std::sync::Arc;

/// Records one item through the recorder's batch path; returns its alerts as (kind, id).
async fn record_one(
    store: &Store,
    book: &mut Option<StoryBook>,
    config: &StoriesConfig,
    message: crate::model::Classified,
) -> Vec<(String, String)> {
    let (outcomes, alerts, _) =
        record_batch(store, book, config, Arc::new(vec![message]), &[], 1).await.expect("recorded");
    assert_eq!(outcomes, [crate::store::Recorded::New]);
    alerts.into_iter().flatten().map(|alert| (alert.kind.unwrap_or_default(), alert.id)).collect()
}

#[tokio::test]
async fn two_instances_file_one_event_in_one_story() {
    for fresh in fresh_stores().await.into_iter().filter(|fresh| fresh.backend() == "postgres") {
        let first = fresh.store.clone();
        let second = pg_store(fresh.pg_url().unwrap()).await;
        // Every later item sends its update at once, so each update's sequence shows whether
        // the instance knew the other's.
        let mut config = StoriesConfig::default();
        config.policies.insert(
            "talks".into(),
            StoryPolicy { on_same_story: OnSameStory::Update, update_every: std::time::Duration::ZERO },
        );
        // Both books are built before anything is filed, as two daemons started together.
        let (mut first_book, mut second_book) = (None, None);
        for (store, book) in [(&first, &mut first_book), (&second, &mut second_book)] {
            let lock = lock_and_sync(store, book, &config).await.unwrap();
            release_stories(lock, book, true).await;
            assert!(book.is_some());
        }
        let now = chrono::Utc::now().timestamp();
        let reprint = |n: usize| format!("Sign up for briefing {n}. {TALKS} Copyright 2026 outlet {n}.");

        let alerts = record_one(
            &first,
            &mut first_book,
            &config,
            message("wire", "Rubio and Lavrov hold talks in Riyadh", TALKS, now - 60),
        )
        .await;
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].0, KIND_NEW_STORY);
        let story = crate::alert::story_id("wire");

        // The second instance's reprint joins the first one's story: an update, sequence 1.
        let alerts = record_one(
            &second,
            &mut second_book,
            &config,
            message("gazette", "Rubio, Lavrov meet in Saudi capital", &reprint(1), now - 50),
        )
        .await;
        assert_eq!(alerts, [(KIND_UPDATE.to_string(), update_alert_id(&story, "talks", 1))]);
        // The first instance's next reprint: sequence 2, not a second sequence 1.
        let alerts = record_one(
            &first,
            &mut first_book,
            &config,
            message("courier", "Lavrov and Rubio talks in Riyadh", &reprint(2), now - 40),
        )
        .await;
        assert_eq!(alerts, [(KIND_UPDATE.to_string(), update_alert_id(&story, "talks", 2))]);
        // And the second's counts include the first's item: three items, three outlets.
        let alerts = record_one(
            &second,
            &mut second_book,
            &config,
            message("herald", "Rubio and Lavrov in Riyadh talks", &reprint(3), now - 30),
        )
        .await;
        assert_eq!(alerts, [(KIND_UPDATE.to_string(), update_alert_id(&story, "talks", 3))]);

        let stories = first.stories_since(0, None, 10).await.unwrap();
        assert_eq!(stories.len(), 1, "{stories:#?}");
        assert_eq!((stories[0].id.as_str(), stories[0].items, stories[0].outlets), (story.as_str(), 4, 4));
        let why: Vec<Option<&str>> = stories[0].members.iter().map(|member| member.why.as_deref()).collect();
        assert_eq!(why, [None, Some("near_copy"), Some("near_copy"), Some("near_copy")]);
        // Slots are unique across the instances: four items, four fingerprints stored.
        let window = first.story_window(0, 100).await.unwrap();
        let mut slots: Vec<i64> = window.items.iter().filter_map(|item| item.slot).collect();
        slots.sort_unstable();
        assert_eq!(slots, [0, 1, 2, 3]);
    }
}
