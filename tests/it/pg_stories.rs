//! One story across several instances on PostgreSQL (issues 12 and 16): three real daemons on
//! one fresh schema and a farm of six feeds on six hosts (127.0.0.1 to 127.0.0.6), so the
//! instances' leases put the feeds on different instances. Once the hosts are split, three
//! feeds publish reprints of one event (the Riyadh talks) and a fourth another event (a phone
//! call); later three more feeds publish reprints of the talks. Over all instances' JSON Lines
//! logs: exactly one `new_story` for the talks, another for the call, every later reprint in
//! exactly one `update` (one per `update_every`, whichever instance sent it), and the store
//! counts every item in the one story.
//!
//! Runs when `NEWSWATCH_TEST_PG` names a database; otherwise it says so on stderr and passes
//! without testing anything.

use crate::pg::{Schema, THREE_DAEMONS, connect, leases_by_pid, wait_for};
use crate::story_alerts::{CALL, item, reprint, rss};
use crate::support::{FixtureServer, Route, TestDir};
use newswatch::alert::Alert;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Hosts of the farm, one feed each: two per instance once the leases are split.
const HOSTS: usize = 6;
/// Every feed's fixed interval.
const INTERVAL: Duration = Duration::from_secs(2);
const LEASE_TIMEOUT: Duration = Duration::from_secs(5);
/// The topic's `update_every`, in seconds.
const UPDATE_EVERY_SECS: i64 = 3;

/// What feed `host` lists in generation `generation` (0: nothing; 1: the talks on feeds 0-2 and
/// the call on feed 3; 2: also the talks on feeds 3-5), as (guid, title, path, text).
fn listing(host: usize, generation: usize) -> Vec<(String, String, String, String)> {
    let mut items = Vec::new();
    if generation >= 1 && host < 3 {
        items.push(item(&format!("talks-{host}"), "Rubio and Lavrov hold talks in Riyadh", &reprint(host)));
    }
    if generation >= 1 && host == 3 {
        items.push(item("call", "Lavrov and Rubio discuss prisoner exchange in phone call", CALL));
    }
    if generation >= 2 && host >= 3 {
        items.push(item(&format!("talks-{host}"), "Rubio, Lavrov meet in Saudi capital", &reprint(host)));
    }
    items
}

/// One instance's directory: the shared store, the six feeds, the topic with updates.
fn instance_dir(schema: &Schema, servers: &[FixtureServer]) -> TestDir {
    let dir = TestDir::new();
    let mut text = format!(
        "[daemon]\nstate_dir = {:?}\nallow_private_networks = true\nrequest_timeout = \"5s\"\nread_timeout = \"3s\"\n\n\
         [defaults]\ninterval = \"{secs}s\"\nmin_interval = \"{secs}s\"\nmax_interval = \"{secs}s\"\nscrape = false\nbackfill = \"24h\"\n\n\
         [store]\nkind = \"postgres\"\nurl = {:?}\nlease_timeout = \"{}s\"\n\n",
        dir.state_dir().display().to_string(),
        schema.url,
        LEASE_TIMEOUT.as_secs(),
        secs = INTERVAL.as_secs(),
    );
    for (host, server) in servers.iter().enumerate() {
        text.push_str(&format!("[[feeds]]\nname = \"feed{host}\"\nurl = {:?}\n\n", server.url("/feed.xml")));
    }
    text.push_str(&format!(
        "[[topics]]\nid = \"us-russia-talks\"\non_same_story = \"update\"\nupdate_every = \"{UPDATE_EVERY_SECS}s\"\n\n"
    ));
    text.push_str(&format!(
        "[[sinks]]\nkind = \"jsonl\"\npath = {:?}\n",
        dir.alert_log().display().to_string()
    ));
    std::fs::write(dir.config_path(), text).unwrap();
    dir
}

/// Every alert of every instance's log.
fn all_alerts(dirs: &[TestDir]) -> Vec<Alert> {
    dirs.iter().flat_map(TestDir::alerts).collect()
}

/// The newcomers' links over every update alert of the logs, with how often each appears.
fn newcomer_links(alerts: &[Alert]) -> HashMap<String, usize> {
    let mut links = HashMap::new();
    for alert in alerts.iter().filter(|alert| alert.kind.as_deref() == Some("update")) {
        for newcomer in &alert.newcomers {
            *links.entry(newcomer.url.clone().unwrap_or_default()).or_insert(0) += 1;
        }
    }
    links
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_raise_one_new_story_per_event_and_share_its_updates() {
    let Ok(admin_url) = std::env::var("NEWSWATCH_TEST_PG") else {
        let _ = writeln!(
            std::io::stderr(),
            "note: NEWSWATCH_TEST_PG is not set: the shared-stories PostgreSQL test did NOT run"
        );
        return;
    };
    let _one_at_a_time = THREE_DAEMONS.lock().await;
    let schema = Schema::create(&admin_url).await;
    let admin = connect(&admin_url).await;

    let generation = Arc::new(AtomicUsize::new(0));
    let mut servers = Vec::with_capacity(HOSTS);
    for host in 0..HOSTS {
        let server = FixtureServer::start_on(&format!("127.0.0.{}", host + 1)).await;
        let bodies: Vec<Vec<u8>> = (0..3).map(|generation| rss(&listing(host, generation))).collect();
        let generation = generation.clone();
        server.route(
            "/feed.xml",
            Route::Dynamic {
                make: Arc::new(move |_| bodies[generation.load(Ordering::SeqCst)].clone()),
                content_type: "application/rss+xml",
            },
        );
        servers.push(server);
    }
    let dirs: Vec<TestDir> = (0..3).map(|_| instance_dir(&schema, &servers)).collect();
    let mut daemons: Vec<std::process::Child> = dirs.iter().map(|dir| dir.spawn_daemon(false)).collect();
    let pids: Vec<i64> = daemons.iter().map(|daemon| i64::from(daemon.id())).collect();

    // The news starts once every instance holds two of the six hosts, so the feeds of the one
    // event are recorded by different instances.
    let split = std::sync::Mutex::new(HashMap::new());
    wait_for("three instances to split the hosts", Duration::from_secs(90), async || {
        let leases = leases_by_pid(&admin, &schema.name).await;
        let done = pids.iter().all(|pid| leases.get(pid).is_some_and(|hosts| hosts.len() == HOSTS / 3));
        *split.lock().unwrap() = leases;
        done
    })
    .await;
    let holders: HashSet<i64> = split
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, hosts)| {
            hosts.iter().any(|host| ["127.0.0.1", "127.0.0.2", "127.0.0.3"].contains(&host.as_str()))
        })
        .map(|(pid, _)| *pid)
        .collect();
    assert!(holders.len() >= 2, "the talks feeds are on one instance: {:?}", split.lock().unwrap());

    generation.store(1, Ordering::SeqCst);
    wait_for("a new_story for each event", Duration::from_secs(60), async || {
        all_alerts(&dirs).iter().filter(|alert| alert.kind.as_deref() == Some("new_story")).count() >= 2
    })
    .await;
    generation.store(2, Ordering::SeqCst);
    // Five talks items joined after the first: each goes out once, in an update.
    wait_for("every later talks item in an update", Duration::from_secs(60), async || {
        newcomer_links(&all_alerts(&dirs)).len() >= 5
    })
    .await;
    // Two more update periods, for a second new_story or a repeated update on its way.
    tokio::time::sleep(Duration::from_secs(2 * UPDATE_EVERY_SECS as u64) + INTERVAL).await;
    let alerts = all_alerts(&dirs);

    let new_stories: Vec<&Alert> =
        alerts.iter().filter(|alert| alert.kind.as_deref() == Some("new_story")).collect();
    assert_eq!(new_stories.len(), 2, "one new_story per event: {new_stories:#?}");
    let talks =
        new_stories.iter().find(|alert| alert.title.contains("Riyadh") || alert.title.contains("Saudi"));
    let call = new_stories.iter().find(|alert| alert.title.contains("phone call"));
    let (Some(talks), Some(call)) = (talks, call) else { panic!("a new_story per event: {new_stories:#?}") };
    let talks_story = talks.story.clone().expect("a story id");
    assert_ne!(Some(&talks_story), call.story.as_ref(), "two events, two stories");

    let updates: Vec<&Alert> =
        alerts.iter().filter(|alert| alert.kind.as_deref() == Some("update")).collect();
    assert!(updates.iter().all(|update| update.story.as_ref() == Some(&talks_story)), "{updates:#?}");
    let mut ids: Vec<&str> = updates.iter().map(|update| update.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), updates.len(), "an update in two logs: {updates:#?}");
    // Every talks item but the first is a newcomer of exactly one update.
    let links = newcomer_links(&alerts);
    let talks_links: HashSet<String> =
        (0..HOSTS).map(|host| servers[host].url(&format!("/talks-{host}.html"))).collect();
    assert_eq!(links.len(), 5, "{links:?}");
    assert!(links.values().all(|&n| n == 1), "a newcomer in two updates: {links:?}");
    assert!(links.keys().all(|link| talks_links.contains(link)), "{links:?}");
    assert!(!links.contains_key(talks.url.as_deref().unwrap_or_default()), "the first item is no newcomer");
    // At most one update per story per period, whichever instance sent it.
    let mut sent: Vec<chrono::DateTime<chrono::Utc>> = updates
        .iter()
        .map(|update| chrono::DateTime::parse_from_rfc3339(&update.detected_at).unwrap().to_utc())
        .collect();
    sent.sort_unstable();
    assert!(
        sent.windows(2).all(|pair| (pair[1] - pair[0]).num_seconds() >= UPDATE_EVERY_SECS),
        "updates closer than update_every: {sent:?}"
    );
    let newest = updates.iter().max_by_key(|update| update.story_items).expect("an update");
    assert_eq!((newest.story_items, newest.story_outlets), (Some(6), Some(6)), "{newest:#?}");

    // The store counts every talks item in the one story, from six outlets; the call is alone.
    let rows = admin
        .query(&*format!("SELECT id, items, outlets FROM {}.stories ORDER BY items", schema.name), &[])
        .await
        .unwrap();
    let stored: Vec<(String, i64, i64)> =
        rows.iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect();
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!(stored[1], (talks_story.clone(), 6, 6), "{stored:?}");
    assert_eq!(stored[0].1, 1, "{stored:?}");
    let members: i64 = admin
        .query_one(
            &*format!("SELECT COUNT(*) FROM {}.story_items WHERE story = $1", schema.name),
            &[&talks_story],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(members, 6);
    for daemon in &mut daemons {
        daemon.kill().unwrap();
        daemon.wait().unwrap();
    }
}
