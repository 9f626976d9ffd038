use super::*;

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
/// 2023-04-02T12:00:00Z
const T0: i64 = 1_680_436_800;

const WIRE: &str = "U.S. Secretary of State Antony Blinken spoke by phone on Sunday with Russian Foreign \
Minister Sergei Lavrov and demanded the immediate release of Wall Street Journal reporter Evan \
Gershkovich, who was detained in Yekaterinburg on espionage charges that the newspaper denies. \
Blinken also raised the case of Paul Whelan, the former Marine held in Russia since 2018, the State \
Department said in a statement. Lavrov told Blinken that Washington should not make a fuss over the \
case and that a court would decide Gershkovich's fate, according to the Russian Foreign Ministry.";

fn clusterer() -> Clusterer {
    Clusterer::new(StoryParams::default())
}

fn add(clusterer: &mut Clusterer, at: i64, title: &str, text: &str, url: &str) -> Decision {
    clusterer.add(at, fingerprint(title, text, Some(url)))
}

#[test]
fn reprints_with_different_boilerplate_join_as_near_copies() {
    let mut stories = clusterer();
    let first =
        add(&mut stories, T0, "Blinken presses Lavrov on Gershkovich", WIRE, "https://wire.example/a/1");
    assert_eq!(first.why, None);
    let reprint = add(
        &mut stories,
        T0 + HOUR,
        "Blinken presses Lavrov on Gershkovich",
        &format!(
            "Sign up for our morning briefing. Advertisement. {WIRE} Copyright 2023 The Daily Example. All rights reserved. Read more: Ukraine latest; Markets."
        ),
        "https://daily.example/world/blinken-lavrov",
    );
    assert_eq!((reprint.story, reprint.why), (first.story, Some(Why::NearCopy)));
    let other_furniture = add(
        &mut stories,
        T0 + 2 * HOUR,
        "US top diplomat demands reporter's release",
        &format!("{WIRE} Follow us on Twitter and Facebook. Share this article. Comments are closed."),
        "https://other.example/2023/04/02/story.html",
    );
    assert_eq!((other_furniture.story, other_furniture.why), (first.story, Some(Why::NearCopy)));
    assert!(other_furniture.similarity.is_some_and(|similarity| similarity >= 0.7));
}

#[test]
fn the_same_link_from_another_feed_joins() {
    let mut stories = clusterer();
    let first =
        add(&mut stories, T0, "Blinken presses Lavrov", WIRE, "https://www.wire.example/a/1?utm_source=rss");
    let again = add(
        &mut stories,
        T0 + HOUR,
        "Blinken, Lavrov speak",
        "Short summary.",
        "http://wire.example/a/1/#top",
    );
    assert_eq!((again.story, again.why, again.similarity), (first.story, Some(Why::SameUrl), Some(1.0)));
}

#[test]
fn a_rewrite_with_a_new_headline_joins() {
    let mut stories = clusterer();
    let original = fingerprint(
        "Blinken Demands Release of Evan Gershkovich in Call With Lavrov",
        WIRE,
        Some("https://a.example/1"),
    );
    let first = stories.add(T0, original.clone());
    let rewrite = fingerprint(
        "Blinken tells Lavrov to free jailed Wall Street Journal reporter",
        "In a rare call with his Russian counterpart Sergei Lavrov, Antony Blinken urged Moscow to free \
         Evan Gershkovich at once. The Wall Street Journal correspondent was arrested last week in \
         Yekaterinburg and accused of spying. Lavrov replied that the reporter's fate was for a Russian \
         court and that the United States should not make a fuss. Blinken also pressed for Paul Whelan.",
        Some("https://b.example/2"),
    );
    let comparison = stories.compare(&rewrite, &original, None);
    let joined = stories.add(T0 + 5 * HOUR, rewrite);
    assert_eq!((joined.story, joined.why), (first.story, Some(Why::Rewrite)), "{comparison:?}");
}

#[test]
fn compare_explains_a_pair() {
    let stories = clusterer();
    let call =
        fingerprint("Blinken and Lavrov speak by phone", "Antony Blinken spoke with Sergei Lavrov.", None);
    let meeting = fingerprint("Blinken and Lavrov meet in Geneva", "Antony Blinken met Sergei Lavrov.", None);
    let comparison = stories.compare(&meeting, &call, None);
    assert_eq!(comparison.conflict, Some("call vs meeting"));
    assert_eq!(comparison.decision, None);
    assert_eq!(comparison.common_actors, 4);
}

#[test]
fn a_follow_up_a_week_later_on_a_new_development_starts_a_story() {
    let mut stories = clusterer();
    let first = add(
        &mut stories,
        T0,
        "Blinken Demands Release of Evan Gershkovich in Call With Lavrov",
        WIRE,
        "https://a.example/1",
    );
    let later = add(
        &mut stories,
        T0 + 7 * DAY,
        "Lavrov hints at prisoner swap for Gershkovich and Whelan",
        "Russian Foreign Minister Sergei Lavrov said the channel agreed by Presidents Putin and Biden \
         could discuss the cases of Evan Gershkovich and Paul Whelan, a week after Antony Blinken \
         demanded the Wall Street Journal reporter's release in a phone call.",
        "https://a.example/2",
    );
    assert_ne!(later.story, first.story);
    assert_eq!(later.why, None);
}

#[test]
fn two_calls_between_the_same_officials_stay_apart() {
    let mut stories = clusterer();
    let first = add(
        &mut stories,
        T0,
        "US defense chief speaks with Russian counterpart Shoigu",
        "U.S. Defense Secretary Lloyd Austin spoke with Russian Defense Minister Sergei Shoigu on Friday, \
         the Pentagon said, the first call between the two since May. Austin stressed the importance of \
         keeping lines of communication open amid the war in Ukraine.",
        "https://a.example/austin-1",
    );
    let second = add(
        &mut stories,
        T0 + 2 * DAY,
        "Austin and Shoigu speak for the second time in three days",
        "U.S. Defense Secretary Lloyd Austin spoke with Russian Defense Minister Sergei Shoigu on Sunday, \
         the Pentagon said, after Shoigu claimed Ukraine could use a dirty bomb. Austin rejected the \
         claim and stressed the importance of keeping lines of communication open.",
        "https://b.example/austin-2",
    );
    assert_ne!(second.story, first.story, "{second:?}");
}

#[test]
fn a_meeting_and_its_announcement_days_earlier_are_two_stories() {
    let mut stories = clusterer();
    let announced = add(
        &mut stories,
        T0,
        "Rubio and Lavrov to meet in Riyadh next week",
        "Secretary of State Marco Rubio will meet Russian Foreign Minister Sergei Lavrov in Riyadh, \
         officials said, the first high-level talks between Washington and Moscow since 2022. \
         Saudi Arabia offered to host the meeting.",
        "https://a.example/plan",
    );
    let held = add(
        &mut stories,
        T0 + 3 * DAY,
        "Rubio and Lavrov hold talks in Riyadh",
        "Secretary of State Marco Rubio met Russian Foreign Minister Sergei Lavrov in Riyadh on Tuesday, \
         the first high-level talks between Washington and Moscow since 2022. The two sides agreed to \
         restore embassy staff.",
        "https://b.example/held",
    );
    assert_ne!(held.story, announced.story, "{held:?}");
}

#[test]
fn meetings_in_two_places_are_two_stories() {
    let mut stories = clusterer();
    let geneva = add(
        &mut stories,
        T0,
        "Blinken and Lavrov meet in Geneva",
        "Antony Blinken and Sergei Lavrov met in Geneva for talks on Ukraine and security guarantees.",
        "https://a.example/geneva",
    );
    let stockholm = add(
        &mut stories,
        T0 + DAY,
        "Blinken and Lavrov meet in Stockholm",
        "Antony Blinken and Sergei Lavrov met in Stockholm for talks on Ukraine and security guarantees.",
        "https://b.example/stockholm",
    );
    assert_ne!(stockholm.story, geneva.story);
}

const RU_WIRE: &str = "Министр иностранных дел России Сергей Лавров провел телефонный разговор с \
госсекретарем США Марко Рубио, сообщили в МИД России. Стороны обсудили подготовку возможной встречи \
президентов Владимира Путина и Дональда Трампа, а также ситуацию вокруг Украины. Лавров и Рубио \
договорились поддерживать контакты, отметили в министерстве.";

#[test]
fn russian_reprints_and_rewrites_join() {
    let mut stories = clusterer();
    let first =
        add(&mut stories, T0, "Лавров и Рубио провели телефонный разговор", RU_WIRE, "https://ria.example/1");
    let reprint = add(
        &mut stories,
        T0 + HOUR,
        "Лавров и Рубио обсудили по телефону встречу Путина и Трампа",
        &format!(
            "Подписывайтесь на наш канал в Telegram. {RU_WIRE} Все права защищены. Читайте также: курс рубля."
        ),
        "https://mirror.example/news/2",
    );
    assert_eq!((reprint.story, reprint.why), (first.story, Some(Why::NearCopy)));
    let rewrite = add(
        &mut stories,
        T0 + 3 * HOUR,
        "Рубио и Лавров созвонились",
        "Госсекретарь США Марко Рубио и глава МИД России Сергей Лавров в телефонном разговоре обсудили \
         подготовку встречи Путина и Трампа и украинское урегулирование. Лавров предложил продолжить \
         контакты, сообщили в министерстве.",
        "https://paper.example/3",
    );
    assert_eq!((rewrite.story, rewrite.why), (first.story, Some(Why::Rewrite)), "{rewrite:?}");
}

#[test]
fn russian_call_and_meeting_of_the_same_ministers_stay_apart() {
    let mut stories = clusterer();
    let call =
        add(&mut stories, T0, "Лавров и Рубио провели телефонный разговор", RU_WIRE, "https://ria.example/1");
    let meeting = add(
        &mut stories,
        T0 + 2 * DAY,
        "Лавров и Рубио встретились в Эр-Рияде",
        "Министр иностранных дел России Сергей Лавров и госсекретарь США Марко Рубио встретились в \
         Эр-Рияде. Стороны обсудили подготовку встречи Путина и Трампа и ситуацию вокруг Украины.",
        "https://ria.example/2",
    );
    assert_ne!(meeting.story, call.story, "{meeting:?}");
}

#[test]
fn an_english_item_does_not_join_a_russian_story() {
    let mut stories = clusterer();
    let russian =
        add(&mut stories, T0, "Лавров и Рубио провели телефонный разговор", RU_WIRE, "https://ria.example/1");
    let english = add(
        &mut stories,
        T0 + HOUR,
        "Lavrov and Rubio speak by phone",
        "Russian Foreign Minister Sergei Lavrov and Secretary of State Marco Rubio discussed preparations \
         for a possible meeting between Vladimir Putin and Donald Trump, the Russian ministry said.",
        "https://en.example/1",
    );
    assert_ne!(english.story, russian.story);
}

#[test]
fn items_leave_the_window_and_their_stories_with_them() {
    let mut stories = clusterer();
    add(&mut stories, T0, "Blinken presses Lavrov on Gershkovich", WIRE, "https://wire.example/a/1");
    add(&mut stories, T0 + HOUR, "Blinken presses Lavrov on Gershkovich", WIRE, "https://copy.example/a/1");
    assert_eq!((stories.window_items(), stories.window_stories()), (2, 1));
    let late = add(
        &mut stories,
        T0 + 4 * DAY,
        "Blinken presses Lavrov on Gershkovich",
        WIRE,
        "https://late.example/a/1",
    );
    assert_eq!(late.why, None, "the earlier copies are out of the window");
    assert_eq!((stories.window_items(), stories.window_stories()), (1, 1));
}

#[test]
fn canonical_links_ignore_scheme_www_tracking_and_fragments() {
    assert_eq!(
        canonical_url("https://www.Example.org/a/b/?utm_source=x&id=3&fbclid=y#top").as_deref(),
        Some("example.org/a/b?id=3")
    );
    assert_eq!(canonical_url("http://example.org/a/b").as_deref(), Some("example.org/a/b"));
    assert_eq!(canonical_url("ftp://example.org/a"), None);
    assert_eq!(canonical_url("not a url"), None);
}

#[test]
fn fingerprints_read_mode_predicate_venue_and_day() {
    let planned = fingerprint("Rubio and Lavrov to meet in Riyadh next week", "", None);
    assert_eq!((planned.mode, planned.predicate), (Mode::Planned, Predicate::Meeting));
    assert_eq!(planned.venues.len(), 1);
    let call = fingerprint("Blinken, Lavrov talk by phone on Sunday", "", None);
    assert_eq!(call.predicate, Predicate::Call);
    assert_eq!(call.days, vec![7]);
    let russian = fingerprint("Лавров и Рубио встретились в Эр-Рияде 18 февраля", "", None);
    assert_eq!(
        (russian.mode, russian.predicate, russian.lang),
        (Mode::Happened, Predicate::Meeting, Lang::Russian)
    );
    assert_eq!(russian.days, vec![218]);
    assert_eq!(russian.venues, planned.venues);
}

#[test]
fn rewrites_in_other_words_share_their_terms() {
    let postponed = fingerprint("Russia postpones arms talks", "", None);
    let delayed = fingerprint("Russia delays arms meeting", "", None);
    let russian = fingerprint("Россия отложила переговоры", "", None);
    let terms = |print: &Fingerprint| print.terms.iter().map(|(term, _)| *term).collect::<Vec<u64>>();
    assert_eq!(terms(&postponed), terms(&delayed));
    let shared = terms(&russian).iter().filter(|term| terms(&postponed).contains(term)).count();
    assert_eq!(shared, 3, "the Russian words for Russia, postponing and talks join the same groups");
}

#[test]
fn hostile_input_gives_a_fingerprint_without_panicking() {
    for text in ["", "\u{0}\u{202e}''..", &"word ".repeat(10_000), "U.S.", "'s", "ё"] {
        let print = fingerprint(text, text, Some(text));
        assert!(print.minhash.is_empty() || print.minhash.len() == fingerprint::MINHASH_PERMUTATIONS);
    }
}

#[test]
fn minhash_estimates_jaccard() {
    let left: Vec<u64> = (0..200).collect();
    let right: Vec<u64> = (100..300).collect();
    let estimate = fingerprint::jaccard(&fingerprint::minhash(&left), &fingerprint::minhash(&right));
    // The true Jaccard is 100/300.
    assert!((estimate - 1.0 / 3.0).abs() < 0.12, "{estimate}");
    assert_eq!(fingerprint::jaccard(&fingerprint::minhash(&left), &fingerprint::minhash(&left)), 1.0);
}

#[test]
fn cluster_jsonl_orders_by_published_and_reports_bad_lines() {
    let input = format!(
        "{}\n{}\nnot json\n{}\n",
        serde_json::json!({"id": "b", "title": "Blinken presses Lavrov on Gershkovich", "text": WIRE, "published": "2023-04-02T14:00:00Z"}),
        serde_json::json!({"id": "a", "title": "Blinken presses Lavrov on Gershkovich", "text": WIRE, "published": "2023-04-02"}),
        serde_json::json!({"id": "c", "title": "x", "text": "y", "published": "last tuesday"}),
    );
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    let summary =
        cluster_jsonl(input.as_bytes(), "items.jsonl", StoryParams::default(), &mut out, &mut errors)
            .expect("in-memory I/O");
    assert_eq!(summary, ClusterSummary { items: 2, stories: 1, skipped: 2 });
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines[0]["id"], "a");
    assert_eq!(lines[0]["why"], "new");
    assert_eq!(lines[1]["story"], "a");
    assert_eq!(lines[1]["why"], "near_copy");
    let errors = String::from_utf8(errors).unwrap();
    assert!(errors.contains("items.jsonl:3: not an item"), "{errors}");
    assert!(errors.contains("items.jsonl:4: item \"c\""), "{errors}");
}

/// A [`CandidateIndex`] that counts what each look-up returns, over the in-memory one.
#[derive(Default)]
struct CountingIndex {
    inner: MemoryIndex,
    largest_lookup: std::cell::Cell<usize>,
}

impl CandidateIndex for CountingIndex {
    fn insert(&mut self, slot: Slot, keys: &[u64]) {
        self.inner.insert(slot, keys);
    }

    fn candidates(&self, keys: &[u64], per_key: usize, out: &mut Vec<Slot>) {
        let before = out.len();
        self.inner.candidates(keys, per_key, out);
        self.largest_lookup.set(self.largest_lookup.get().max(out.len() - before));
    }

    fn remove(&mut self, slot: Slot, keys: &[u64]) {
        self.inner.remove(slot, keys);
    }
}

#[test]
fn a_lookup_reads_a_bounded_number_of_items_however_full_the_window() {
    let mut stories = Clusterer::with_index(StoryParams::default(), CountingIndex::default());
    // Distinct items that all name the same people: each shares keys with every other, the
    // worst case for an index.
    let add_items = |stories: &mut Clusterer<CountingIndex>, range: std::ops::Range<i64>| {
        for number in range {
            let title =
                format!("Lavrov and Rubio discuss item {number} of agenda {}", number * 7919 % 10_007);
            let text = format!(
                "Sergei Lavrov and Marco Rubio discussed point {number}, code {}, said official {}.",
                number * 104_729 % 1_000_003,
                number * 31
            );
            stories.add(T0 + number, fingerprint(&title, &text, None));
        }
    };
    add_items(&mut stories, 0..1_000);
    let largest_at_1000 = stories.index().largest_lookup.get();
    stories.index().largest_lookup.set(0);
    add_items(&mut stories, 1_000..2_000);
    let largest_at_2000 = stories.index().largest_lookup.get();
    assert_eq!(stories.window_items(), 2_000);
    // Twice the items in the window, (almost) no more read per look-up: a linear index would
    // read twice as many.
    assert!(largest_at_2000 * 4 < largest_at_1000 * 5, "{largest_at_1000} then {largest_at_2000}");
    let keys_per_item = 1 + 32 + 12 + 6; // link, LSH bands, rarest terms, main actors
    assert!(largest_at_2000 <= keys_per_item * 32, "a look-up returned {largest_at_2000} slots");
}

#[test]
fn a_name_that_opens_a_sentence_is_still_a_name() {
    let print = fingerprint(
        "Russia Postpones Nuclear Arms Meeting",
        "Russia has put off the talks. The meeting was to take place in Cairo, officials said.",
        None,
    );
    let russia = stable_hash(b"#russia");
    assert!(print.actors.iter().any(|(actor, _)| *actor == russia), "never written in lower case");
    // "The" opens a sentence and is written in lower case elsewhere... as a stopword it is no term
    // at all; "Meeting" (Title Case headline) is written "meeting" in the text: not a name.
    let meeting = stable_hash(b"#meet");
    assert!(!print.actors.iter().any(|(actor, _)| *actor == meeting));
}

#[test]
fn a_country_and_its_adjective_are_one_term_and_one_actor() {
    let noun = fingerprint("Russia rejects US proposal", "Russia rejected the offer from America.", None);
    let adjective = fingerprint(
        "Russian officials reject American proposal",
        "The Russian side turned down the offer.",
        None,
    );
    let terms = |print: &Fingerprint| print.terms.iter().map(|(term, _)| *term).collect::<Vec<u64>>();
    for concept in [&b"#russia"[..], b"#us"] {
        let hash = stable_hash(concept);
        assert!(terms(&noun).contains(&hash) && terms(&adjective).contains(&hash), "{concept:?}");
    }
    let russia = stable_hash(b"#russia");
    assert!(adjective.actors.iter().any(|(actor, _)| *actor == russia), "Russian names the actor Russia");
    let russian = fingerprint("Российские власти отклонили предложение США", "", None);
    assert!(terms(&russian).contains(&russia) && terms(&russian).contains(&stable_hash(b"#us")));
}

/// A rewrite in other words, about the Griner–Bout exchange: it shares the names and, through
/// the word groups, "swap"/"trade"/"exchange" and "Russia"/"Russian".
const SWAP_FIRST: (&str, &str) = (
    "Brittney Griner arrives in US after prisoner exchange with Russia",
    "Basketball star Brittney Griner landed at a Texas airbase after being swapped for Russian arms \
     dealer Viktor Bout, ending nearly ten months of detention in Russia.",
);
const SWAP_REWRITE: (&str, &str) = (
    "Griner back home after Russian prisoner trade for Viktor Bout",
    "The American basketball player Brittney Griner is back in the United States after the Russia \
     prisoner swap that freed the arms dealer Viktor Bout.",
);

#[test]
fn a_rewrite_in_other_words_joins_within_hours() {
    let mut stories = clusterer();
    let first = add(&mut stories, T0, SWAP_FIRST.0, SWAP_FIRST.1, "https://a.example/1");
    let rewrite = add(&mut stories, T0 + 3 * HOUR, SWAP_REWRITE.0, SWAP_REWRITE.1, "https://b.example/2");
    assert_eq!((rewrite.story, rewrite.why), (first.story, Some(Why::Rewrite)));
}

/// An item on the Griner–Bout exchange that shares names and a few words with [`SWAP_FIRST`]
/// but reports something else (a reaction or a new development).
const SWAP_REACTION: (&str, &str) = (
    "Griner dunks in first workout since her release, agent says",
    "Brittney Griner, back in the US after the prisoner swap with Russia, took part in her first \
     basketball workout, her agent said; her future in the league is unclear.",
);

#[test]
fn the_rewrite_threshold_rises_with_the_time_between_items() {
    let stories = clusterer();
    let first = fingerprint(SWAP_FIRST.0, SWAP_FIRST.1, None);
    let reaction = fingerprint(SWAP_REACTION.0, SWAP_REACTION.1, None);
    let hours_apart = stories.compare_at(&reaction, &first, None, 2 * HOUR);
    assert_eq!(hours_apart.decision.map(|(why, _)| why), Some(Why::Rewrite), "{hours_apart:?}");
    // Three days later the same shared words more often mean a new development than a rewrite:
    // the item must share more of its terms to join.
    let days_apart = stories.compare_at(&reaction, &first, None, 70 * HOUR);
    assert_eq!(days_apart.overlap, hours_apart.overlap);
    assert_eq!(days_apart.decision, None, "{days_apart:?}");
    // A close rewrite still joins two days later.
    let rewrite = fingerprint(SWAP_REWRITE.0, SWAP_REWRITE.1, None);
    let close = stories.compare_at(&rewrite, &first, None, 46 * HOUR);
    assert_eq!(close.decision.map(|(why, _)| why), Some(Why::Rewrite), "{close:?}");
}

#[test]
fn a_reaction_three_days_later_with_a_few_shared_words_starts_a_story() {
    let mut stories = clusterer();
    let first = add(&mut stories, T0, SWAP_FIRST.0, SWAP_FIRST.1, "https://a.example/1");
    let later = add(&mut stories, T0 + 70 * HOUR, SWAP_REACTION.0, SWAP_REACTION.1, "https://c.example/3");
    assert_ne!(later.story, first.story);
}

/// Two reactions to the Griner–Bout swap, written independently: they share the rare name and
/// the act in their headlines and little else.
const REACTION_BROTHER: (&str, &str) = (
    "Brother of Paul Whelan calls on US to be 'more assertive' after Griner trade",
    "David Whelan said his family was happy for Brittney Griner but that Washington had again \
     failed his brother, who has been held in a Russian labour camp for four years.",
);
const REACTION_PLAYER: (&str, &str) = (
    "Dallas Cowboy has strong reaction to Brittney Griner swap",
    "A Dallas Cowboys linebacker posted a short message on social media criticising the deal, \
     drawing thousands of replies from fans within hours.",
);
const NEW_DEVELOPMENT: (&str, &str) = (
    "Brittney Griner dunks in first workout since Russia arrest",
    "The WNBA star took part in a practice session in Texas, her agent said, adding that no \
     decision about the coming season had been made.",
);

#[test]
fn reactions_naming_the_same_rare_actor_and_act_join_within_two_days() {
    let stories = clusterer();
    let brother = fingerprint(REACTION_BROTHER.0, REACTION_BROTHER.1, None);
    let player = fingerprint(REACTION_PLAYER.0, REACTION_PLAYER.1, None);
    let hours_apart = stories.compare_at(&player, &brother, None, 8 * HOUR);
    assert!(
        hours_apart.overlap < StoryParams::default().rewrite,
        "too few words in common for a rewrite: {hours_apart:?}"
    );
    assert_eq!(hours_apart.headline_actors, 1, "{hours_apart:?}");
    assert_eq!(hours_apart.decision.map(|(why, _)| why), Some(Why::Rewrite), "{hours_apart:?}");
    // A release and an exchange are one act: "the deal that freed Griner" is the swap.
    let decision = fingerprint(
        "Inside Biden's agonizing decision to take a deal that freed Brittney Griner",
        "Officials describe weeks of debate in the West Wing over whether to accept the only offer \
         Moscow would make, and what it meant for other Americans held there.",
        None,
    );
    let same_family = stories.compare_at(&decision, &player, None, 2 * HOUR);
    assert_eq!(same_family.decision.map(|(why, _)| why), Some(Why::Rewrite), "{same_family:?}");
    // Beyond `event_hours`, names and the act alone no longer make one story.
    let days_apart = stories.compare_at(&player, &brother, None, 60 * HOUR);
    assert_eq!(days_apart.decision, None, "{days_apart:?}");
    // The same name with another act (a workout, not the swap) is another story.
    let workout = fingerprint(NEW_DEVELOPMENT.0, NEW_DEVELOPMENT.1, None);
    let other_act = stories.compare_at(&workout, &player, None, 8 * HOUR);
    assert_eq!(other_act.decision, None, "{other_act:?}");
}

#[test]
fn a_common_name_and_the_same_act_do_not_join() {
    // Many items name Putin: his name is no evidence of one event, even with the same act.
    let mut stories = clusterer();
    for number in 0..40 {
        let title = format!("Putin comments on topic {number}");
        let text =
            format!("Vladimir Putin spoke about subject {number} in Moscow on a visit to region {number}.");
        stories.add(T0 - DAY + number * 60, fingerprint(&title, &text, None));
    }
    let first = fingerprint(
        "Putin praised on state TV for prisoner swap",
        "Television hosts called the deal a victory and thanked the Kremlin.",
        None,
    );
    let second = fingerprint(
        "Kyiv and Moscow swap soldiers, Putin's office says",
        "More than two hundred servicemen returned home after talks brokered by the Emirates.",
        None,
    );
    let comparison = stories.compare_at(&second, &first, None, 4 * HOUR);
    assert_eq!(comparison.headline_actors, 1, "{comparison:?}");
    assert_eq!(comparison.decision, None, "{comparison:?}");
    // Where the name is rare (no other item yet), the same pair is one event.
    let rare = clusterer().compare_at(&second, &first, None, 4 * HOUR);
    assert_eq!(rare.decision.map(|(why, _)| why), Some(Why::Rewrite), "{rare:?}");
}

#[test]
fn the_noun_and_the_verb_of_one_act_are_one_term() {
    let noun = fingerprint("Putin announces suspension of nuclear treaty", "", None);
    let verb = fingerprint("Putin is suspending the atomic arms pact", "", None);
    let terms = |print: &Fingerprint| print.terms.iter().map(|(term, _)| *term).collect::<Vec<u64>>();
    for concept in [&b"#suspend"[..], b"#nuclear", b"#treaty"] {
        let hash = stable_hash(concept);
        assert!(terms(&noun).contains(&hash) && terms(&verb).contains(&hash), "{concept:?}");
    }
    let visit = fingerprint("Putin arrives in Riyadh", "", None);
    let trip = fingerprint("Putin's Gulf trip", "", None);
    let hash = stable_hash(b"#visit");
    assert!(terms(&visit).contains(&hash) && terms(&trip).contains(&hash));
}

/// Two headlines on one visit that restate each other around a rare name, with no act of the
/// event rewrite's list (a swap, a release, ...) and different wording in their summaries.
const VISIT_FIRST: (&str, &str) = (
    "Putin visits the Emirates and Saudi Arabia in a rare trip abroad",
    "Vladimir Putin flew to Abu Dhabi and Riyadh on Wednesday to discuss oil output and the wars in \
     Gaza and Ukraine with Gulf leaders.",
);
const VISIT_OTHER: (&str, &str) = (
    "Putin's Saudi and Emirates trip shows limits of his isolation",
    "The Russian president was welcomed with a cavalry escort, a sign that Western efforts to \
     isolate Moscow have failed in the Gulf, analysts said.",
);

#[test]
fn headlines_that_restate_each_other_around_a_rare_name_join_within_hours() {
    let stories = clusterer();
    let first = fingerprint(VISIT_FIRST.0, VISIT_FIRST.1, None);
    let other = fingerprint(VISIT_OTHER.0, VISIT_OTHER.1, None);
    let hours_apart = stories.compare_at(&other, &first, None, 12 * HOUR);
    assert!(hours_apart.headline_overlap >= 0.5, "{hours_apart:?}");
    assert_eq!(hours_apart.decision.map(|(why, _)| why), Some(Why::Rewrite), "{hours_apart:?}");
    // It is this rule that joins them: twelve hours apart, their words alone are too few for a
    // rewrite.
    let without = Clusterer::new(StoryParams { event_headline: 1.1, ..StoryParams::default() });
    assert_eq!(without.compare_at(&other, &first, None, 12 * HOUR).decision, None);
    // Beyond `event_hours`, a shared name and headline words no longer make one story.
    let days_apart = stories.compare_at(&other, &first, None, 60 * HOUR);
    assert_eq!(days_apart.decision, None, "{days_apart:?}");
}
