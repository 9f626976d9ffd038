//! Tests of topic loading, every operator, word forms, scoring, explanations and evaluation.

use super::*;
use crate::cli::tools::{EvalCounts, eval_files, in_even_half};

/// A topic from an inline single query, with optional lists.
fn topic(query: &str, lists: &[(&str, &[&str])]) -> Topic {
    let spec = TopicSpec {
        id: "test".into(),
        query: Some(query.into()),
        lists: Some(
            lists
                .iter()
                .map(|(name, entries)| (name.to_string(), entries.iter().map(ToString::to_string).collect()))
                .collect(),
        ),
        ..TopicSpec::default()
    };
    let mut topics = Topic::load_all(&[spec], Path::new(".")).unwrap_or_else(|errors| {
        panic!("{}", errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
    });
    topics.remove(0)
}

/// A rule of the item's scope.
fn rule(name: &str, query: &str, weight: f64) -> RuleSpec {
    RuleSpec { name: Some(name.into()), query: query.into(), weight, scope: None }
}

fn matches(query: &str, body: &str) -> bool {
    topic(query, &[]).classify(&Document { title: "", body }).matched
}

/// Asserts that each (title, body) is classified as a match (`expected`) or not, showing the
/// verdict of any that is not.
fn assert_each_matches(topic: &Topic, items: &[(&str, &str)], expected: bool) {
    for &(title, body) in items {
        let verdict = topic.classify(&Document { title, body });
        assert_eq!(verdict.matched, expected, "{title} / {body}: {verdict:#?}");
    }
}

fn load_errors(specs: &[TopicSpec]) -> Vec<String> {
    match Topic::load_all(specs, Path::new(".")) {
        Ok(_) => panic!("expected errors"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn and_or_not_hold_as_documented() {
    assert!(matches("talks AND russia", "Russia wants talks"));
    assert!(!matches("talks AND russia", "Russia wants peace"));
    assert!(matches("talks OR summit", "a summit"));
    assert!(matches("talks NOT ukraine", "talks in Geneva"));
    assert!(!matches("talks NOT ukraine", "talks on Ukraine"));
    assert!(!matches("talks AND NOT ukraine", "talks on Ukraine"));
    // NOT binds to one operand; precedence: (a AND b) OR c.
    assert!(matches("lavrov AND blinken OR kerry", "Kerry arrived"));
}

#[test]
fn near_counts_words_between_and_stays_in_the_sentence() {
    assert!(matches("lavrov NEAR/2 rubio", "Lavrov and Rubio met"));
    assert!(matches("lavrov NEAR/2 rubio", "Rubio, the envoy, Lavrov"));
    assert!(!matches("lavrov NEAR/1 rubio", "Lavrov met with Rubio"));
    assert!(!matches("lavrov NEAR/5 rubio", "It was Lavrov. Rubio came later"));
}

#[test]
fn pre_requires_order() {
    assert!(matches("talks PRE/1 russia", "talks with Russia"));
    assert!(!matches("talks PRE/1 russia", "Russia wants talks"));
}

#[test]
fn same_sentence_operator() {
    assert!(matches("putin NEAR/s trump", "Putin said many things to reporters about Trump."));
    assert!(!matches("putin NEAR/s trump", "Putin spoke. Trump listened."));
    // An abbreviation does not end a sentence.
    assert!(matches("u.s. NEAR/s lavrov", "The U.S. Secretary met Lavrov."));
}

#[test]
fn field_scopes_restrict_terms() {
    let topic = topic("title:talks", &[]);
    assert!(topic.classify(&Document { title: "Talks resume", body: "" }).matched);
    assert!(!topic.classify(&Document { title: "News", body: "talks resume" }).matched);
    let topic = super::tests::topic("body:talks", &[]);
    assert!(!topic.classify(&Document { title: "Talks resume", body: "" }).matched);
}

#[test]
fn headline_scope_is_the_title_or_else_the_first_sentence() {
    let topic = topic("headline:swap", &[]);
    let classify = |title: &str, body: &str| topic.classify(&Document { title, body }).matched;
    assert!(classify("Prisoner swap agreed", "Details follow."));
    // With a title, the body's first sentence is not the headline.
    assert!(!classify("Star returns to court", "She came home in a swap."));
    // Without one, the first sentence (or line) is.
    assert!(classify("", "Prisoner swap agreed\nDetails follow."));
    assert!(!classify("", "Details follow. Prisoner swap agreed."));
}

#[test]
fn not_near_keeps_occurrences_without_the_other_side_close() {
    // "called Russia" counts, "called Putin a butcher" does not.
    let query = "(=called PRE/1 putin) NOT PRE/1 (=a OR =an)";
    assert!(matches(query, "Burns called Putin after the mutiny."));
    assert!(!matches(query, "Biden called Putin a butcher."));
    // One good occurrence is enough even if another is excluded.
    assert!(matches(query, "He called Putin a liar. Later he called Putin twice."));
    // NOT PRE/n looks only forward; NOT NEAR/n both ways; NOT NEAR/s the whole sentence.
    assert!(matches("officials NOT PRE/2 former", "former US officials met"));
    assert!(!matches("officials NOT NEAR/2 former", "former US officials met"));
    assert!(!matches("talks NOT NEAR/s former", "Talks were held by former officials."));
    assert!(matches("talks NOT NEAR/s former", "Former officials spoke. Talks were held."));
    // An absent right side excludes nothing.
    assert!(matches("talks NOT NEAR/3 ukraine", "talks in Geneva"));
    // It is one operator: a NOT that is not followed by NEAR/PRE is still AND NOT.
    assert!(!matches("talks NOT ukraine", "talks. Ukraine"));
}

#[test]
fn phrases_wildcards_forms_and_case() {
    assert!(matches(r#""secretary of state""#, "the Secretary of State said"));
    assert!(!matches(r#""secretary of state""#, "the state secretary said"));
    assert!(matches("negotiat*", "negotiators arrived"));
    assert!(!matches("=met", "they meet today"));
    assert!(matches("=met", "they met today"));
    assert!(matches("{US}", "the US delegation"));
    assert!(!matches("{US}", "join us today"));
    assert!(matches(r#""U.S.""#, "a U.S. envoy"));
    // Stems that are not prefixes of their word (the stemmer's exceptional forms) still match.
    assert!(matches(r#""during a call""#, "They spoke during a call on Monday."));
    assert!(matches("during", "During the summit"));
}

#[test]
fn lists_nest_and_named_queries_expand() {
    let lists: &[(&str, &[&str])] = &[("ru", &["Lavrov", "@kremlin"]), ("kremlin", &["Kremlin", "Peskov"])];
    let topic = topic("@ru NEAR/3 talks", lists);
    assert!(topic.classify(&Document { title: "", body: "Peskov on talks" }).matched);

    let spec = TopicSpec {
        id: "q".into(),
        queries: Some([("pair".to_string(), "lavrov NEAR/3 rubio".to_string())].into()),
        query: Some("@pair NEAR/s talks".into()),
        ..TopicSpec::default()
    };
    let topics = Topic::load_all(&[spec], Path::new(".")).unwrap();
    let doc = Document { title: "", body: "Lavrov and Rubio held talks." };
    assert!(topics[0].classify(&doc).matched);
}

#[test]
fn russian_and_english_word_forms_match() {
    assert!(matches("переговоры", "прошли в переговорах"));
    assert!(matches("Лавров", "встреча Лаврова и Рубио"));
    assert!(matches("Лавров NEAR/3 Блинкен", "Блинкена с Лавровым"));
    assert!(matches("talks", "they talked"));
    assert!(matches("negotiations", "ready to negotiate"));
    assert!(matches("Russia", "Russia’s foreign ministry"));
    assert!(matches("встреча", "Встречи не будет"));
}

#[test]
fn normalisation_handles_entities_nbsp_and_quotes() {
    assert!(matches(r#""Lavrov and Rubio""#, "Lavrov&nbsp;and&#160;Rubio"));
    assert!(matches(r#""Lavrov and Rubio""#, "Lavrov\u{00A0}and Rubio"));
    assert!(matches("AT NEAR/0 T", "AT&amp;T"));
    assert!(matches(r#""Russia's talks""#, "“Russia’s talks”"));
    assert!(matches("ﬁnal", "final"));
}

#[test]
fn spans_are_byte_offsets_into_the_original() {
    let topic = topic("lavrov NEAR/s rubio", &[]);
    let body = "Сегодня: Lavrov&amp;friends met Rubio.";
    let verdict = topic.classify(&Document { title: "", body });
    assert!(verdict.matched);
    let spans = &verdict.clauses[0].spans;
    let texts: Vec<&str> = spans.iter().map(|span| &body[span.start..span.end]).collect();
    assert_eq!(texts, ["Lavrov", "Rubio"]);
    assert!(spans.iter().all(|span| span.field == Field::Body && span.text == body[span.start..span.end]));
}

/// Rules build their occurrences in one arena per document: a matched rule's evidence must
/// survive the rules evaluated after it (built lists, named queries, rules that fail).
#[test]
fn each_rule_keeps_its_own_evidence_when_later_rules_are_evaluated() {
    let spec = TopicSpec {
        id: "arena".into(),
        threshold: Some(0.5),
        queries: Some([("pair".to_string(), "lavrov NEAR/3 rubio".to_string())].into()),
        rules: Some(vec![
            rule("first", "(@pair) NEAR/s talks", 0.6),
            rule("fails", "(lavrov NEAR/1 geneva) OR (talks PRE/0 rubio)", 0.3),
            rule("second", "(witkoff NEAR/3 putin) NEAR/s kremlin", 0.5),
            rule("third", "(@pair PRE/0 held) OR (summit NEAR/2 alaska)", 0.4),
        ]),
        ..TopicSpec::default()
    };
    let topic = Topic::load_all(&[spec], Path::new(".")).unwrap().remove(0);
    let body = "Lavrov and Rubio held talks in Riyadh. Witkoff met Putin at the Kremlin. A summit in Alaska followed.";
    for verdict in [topic.classify(&Document { title: "", body }), topic.judge(&Document { title: "", body })]
    {
        assert!(verdict.matched);
        let spans = |name: &str| -> Vec<&str> {
            let clause = verdict.clauses.iter().find(|clause| &*clause.name == name).unwrap();
            clause.spans.iter().map(|span| span.text.as_str()).collect()
        };
        assert_eq!(spans("first"), ["Lavrov", "Rubio", "talks"]);
        assert_eq!(spans("second"), ["Witkoff", "Putin", "Kremlin"]);
        // The named query's cached result, read again after "first" built on it: still
        // Lavrov..Rubio (ending right before "held"), not "first"'s wider Lavrov..talks.
        assert_eq!(spans("third"), ["Lavrov", "Rubio", "held", "summit", "Alaska"]);
        assert!(verdict.clauses.iter().all(|clause| &*clause.name != "fails"));
    }
}

#[test]
fn scores_combine_positive_and_negative_evidence() {
    let spec = TopicSpec {
        id: "weights".into(),
        threshold: Some(0.5),
        rules: Some(vec![rule("a", "alpha", 0.4), rule("b", "beta", 0.5), rule("no", "gamma", -0.5)]),
        ..TopicSpec::default()
    };
    let topic = Topic::load_all(&[spec], Path::new(".")).unwrap().remove(0);
    let score = |body: &str| topic.classify(&Document { title: "", body }).score;
    assert!((score("alpha") - 0.4).abs() < 1e-9);
    assert!((score("alpha beta") - 0.7).abs() < 1e-9);
    assert!((score("alpha beta gamma") - 0.35).abs() < 1e-9);
    assert_eq!(score("nothing"), 0.0);
    let verdict = topic.classify(&Document { title: "", body: "gamma alpha beta" });
    assert!(!verdict.matched);
    // Strongest first: positive rules by weight, then negative ones.
    let names: Vec<&str> = verdict.clauses.iter().map(|clause| &*clause.name).collect();
    assert_eq!(names, ["b", "a", "no"]);
    assert!(verdict.reasons[0].starts_with("b (+0.50): “beta”"), "{:?}", verdict.reasons);
    assert!(verdict.reasons[2].starts_with("no (−0.50)"), "{:?}", verdict.reasons);
}

#[test]
fn snippet_comes_from_the_strongest_evidence() {
    let topic = topic("lavrov NEAR/s rubio", &[]);
    let filler = "Weather was fine and markets were calm. ".repeat(20);
    let body = format!("{filler}Lavrov spoke with Rubio by phone. More text follows here.");
    let verdict = topic.classify(&Document { title: "", body: &body });
    assert!(verdict.snippet.starts_with("…Lavrov spoke with Rubio"), "{}", verdict.snippet);
    assert!(verdict.snippet.chars().count() <= SNIPPET_CHARS + 2);
}

#[test]
fn classification_never_panics_on_odd_input() {
    let topic = topic("talks NEAR/2 russia OR title:\"x y\"", &[]);
    for body in ["", "&", "&#xFFFFFFFF;", "&#;", "...", "\u{0306}", "a\u{00AD}", "’’’", "ё"] {
        let verdict = topic.classify(&Document { title: body, body });
        assert!((0.0..=1.0).contains(&verdict.score));
    }
}

#[test]
fn syntax_errors_name_topic_location_column_and_expectation() {
    let spec = TopicSpec {
        id: "broken".into(),
        rules: Some(vec![RuleSpec {
            name: None,
            query: "talks AND (russia OR".into(),
            weight: 1.0,
            scope: None,
        }]),
        ..TopicSpec::default()
    };
    let errors = load_errors(&[spec]);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("topics[0].rules[0].query: syntax error in topic \"broken\" at column 21"),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("expected a term"), "{}", errors[0]);
}

#[test]
fn every_problem_is_collected() {
    let specs = [
        TopicSpec { id: "unknown-topic".into(), ..TopicSpec::default() },
        TopicSpec {
            id: "lists".into(),
            query: Some("@missing AND x".into()),
            threshold: Some(1.5),
            lists: Some([("empty".to_string(), vec![])].into()),
            ..TopicSpec::default()
        },
        TopicSpec { id: "lists".into(), query: Some("x".into()), ..TopicSpec::default() },
        TopicSpec {
            id: "both".into(),
            file: Some("topics/x.toml".into()),
            query: Some("x".into()),
            ..TopicSpec::default()
        },
        TopicSpec { id: "nofile".into(), file: Some("missing/x.toml".into()), ..TopicSpec::default() },
        TopicSpec { id: "onlynot".into(), query: Some("NOT x".into()), ..TopicSpec::default() },
    ];
    let errors = load_errors(&specs);
    let has = |needle: &str| errors.iter().any(|error| error.contains(needle));
    assert!(has("topics[0]: topic \"unknown-topic\" has no definition"), "{errors:#?}");
    assert!(has("topics[1].threshold: 1.5 is not between 0 and 1"), "{errors:#?}");
    assert!(has("topics[1].lists.empty[0]"), "{errors:#?}");
    assert!(has("unknown list @missing"), "{errors:#?}");
    assert!(has("topics[2].id: \"lists\" is already used by topics[1]"), "{errors:#?}");
    assert!(has("topics[3]: give either `file` or an inline definition"), "{errors:#?}");
    assert!(has("topics[4].file: cannot read"), "{errors:#?}");
    assert!(has("topics[5].query: topic \"onlynot\": the query only excludes"), "{errors:#?}");
}

#[test]
fn topic_files_load_relative_to_the_config_dir() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("topics")).unwrap();
    std::fs::write(dir.path().join("topics/mine.toml"), "threshold = 0.2\nquery = 'lavrov NEAR/3 rubio'\n")
        .unwrap();
    std::fs::write(dir.path().join("topics/bad.toml"), "query = 'a AND'\n").unwrap();
    let spec = TopicSpec { id: "mine".into(), file: Some("topics/mine.toml".into()), ..TopicSpec::default() };
    let topics = Topic::load_all(&[spec], dir.path()).unwrap();
    assert_eq!(topics[0].threshold, 0.2);
    let bad = TopicSpec { id: "bad".into(), file: Some("topics/bad.toml".into()), ..TopicSpec::default() };
    let errors: Vec<String> =
        Topic::load_all(&[bad], dir.path()).unwrap_err().iter().map(ToString::to_string).collect();
    assert!(
        errors[0]
            .contains("topics/bad.toml: query: syntax error in topic \"bad\" at column 6 (end of query)"),
        "{errors:?}"
    );
}

#[test]
fn config_tables_deserialize_as_topic_specs() {
    #[derive(Deserialize)]
    struct Config {
        topics: Vec<TopicSpec>,
    }
    let config: Config = toml::from_str(
        "[[topics]]\nid = \"us-russia-talks\"\n\n[[topics]]\nid = \"x\"\nquery = 'a OR b'\n\
         [topics.lists]\nl = [\"a\"]\n",
    )
    .unwrap();
    let topics = Topic::load_all(&config.topics, Path::new("/nonexistent")).unwrap();
    assert_eq!(topics[0].id, "us-russia-talks");
    assert!(toml::from_str::<Config>("[[topics]]\nid = \"x\"\nqeury = 'a'\n").is_err());
}

#[test]
fn shipped_topics_load_from_the_binary() {
    for id in builtin_topic_ids() {
        let spec = TopicSpec { id: id.into(), ..TopicSpec::default() };
        let topics = Topic::load_all(&[spec], Path::new("/nonexistent"));
        assert!(topics.is_ok(), "{id}: {:?}", topics.err());
    }
    let spec = TopicSpec { id: "us-russia-talks".into(), threshold: Some(0.9), ..TopicSpec::default() };
    assert_eq!(Topic::load_all(&[spec], Path::new(".")).unwrap()[0].threshold, 0.9);
}

#[test]
fn us_russia_talks_flags_a_clear_positive_and_not_hard_negatives() {
    let topic = Topic::builtin("us-russia-talks").unwrap();
    let positive = Document {
        title: "Rubio and Lavrov hold phone call ahead of summit",
        body: "U.S. Secretary of State Marco Rubio spoke by phone with Russian Foreign Minister \
               Sergei Lavrov on Monday to prepare a meeting between the two presidents.",
    };
    let verdict = topic.classify(&positive);
    assert!(verdict.matched, "{verdict:#?}");
    assert!(verdict.score > 0.9);
    assert!(verdict.snippet.contains("Rubio"), "{}", verdict.snippet);

    let russian = Document {
        title: "",
        body: "Глава МИД России Сергей Лавров провел телефонный разговор с госсекретарем США Марко Рубио.",
    };
    assert!(topic.classify(&russian).matched);

    for body in [
        "Russian and Ukrainian delegations held a new round of talks in Istanbul on Friday, \
         with no agreement on a ceasefire.",
        "Delegations of Russia and Ukraine met in Istanbul for direct negotiations.",
        "US envoy Steve Witkoff will lead talks with Iran in Oman, with Foreign Minister \
         Abbas Araghchi representing the Iranian side.",
        "The US Treasury imposed new sanctions on Russian oil companies on Wednesday.",
        "Делегации России и Украины провели переговоры в Стамбуле.",
    ] {
        let verdict = topic.classify(&Document { title: "", body });
        assert!(!verdict.matched, "{body}: {verdict:#?}");
    }
}

/// The guideline's borderline rules, each with a made-up item on either side of the line.
#[test]
fn us_russia_talks_follows_the_borderline_rules() {
    let topic = Topic::builtin("us-russia-talks").unwrap();
    let positives = [
        // A call reported in the past tense, the state or the counterpart as its object.
        (
            "Spy chief called Moscow after the uprising",
            "The CIA director called Russia to say Washington had no part in it.",
        ),
        ("", "The director of the CIA called his Russian counterpart on Sunday."),
        // A swap that is the story's subject.
        (
            "Prisoner swap frees American reporter",
            "The US traded a Russian convicted in Germany for the reporter held in Russia.",
        ),
        // Negotiations over a detainee.
        (
            "State Department says Griner negotiations have stalled",
            "Washington says Moscow has not negotiated in good faith.",
        ),
        // A headline using "talks" as a verb does not cancel evidence in the text.
        (
            "Putin talks release of reporter",
            "A Moscow judge kept him in custody while the U.S. negotiates for his release.",
        ),
        // Arms-control talks called off.
        (
            "Biden administration faults Russia over cancelled nuclear arms talks",
            "Russia pulled out of the arms control talks at the last minute.",
        ),
    ];
    assert_each_matches(&topic, &positives, true);
    let negatives = [
        // Rule 5: naming is not calling.
        (
            "Biden calls Putin a tyrant",
            "The president called Russian President Vladimir Putin a tyrant on Friday.",
        ),
        // The swap is background to a story about the freed person's life.
        (
            "Basketball star returns to training",
            "She came home last year in a prisoner swap with Russia for arms dealer Viktor Bout.",
        ),
        // Former officials and private citizens do not act for the government.
        (
            "White House did not approve secret talks",
            "Former US officials met the Russian foreign minister Sergei Lavrov in New York.",
        ),
        (
            "Billionaire says he spoke to the Kremlin",
            "Elon Musk said he had spoken with Putin about the war.",
        ),
        // Rule 3: a public exchange at the UN.
        (
            "US envoy confronts Russian diplomat at the U.N.",
            "At a Security Council meeting chaired by Russia's foreign minister, the U.S. ambassador urged the release of the reporter.",
        ),
        // Rule 9: a mediator meets one side.
        (
            "Vatican envoy meets Biden",
            "The Vatican envoy, who has met officials in Russia, held talks with Biden.",
        ),
    ];
    assert_each_matches(&topic, &negatives, false);
}

#[test]
fn alert_fields_come_from_the_explanation() {
    let topic = Topic::builtin("us-russia-talks").unwrap();
    let doc = Document {
        title: "Blinken meets Lavrov in Geneva",
        body: "The top US and Russian diplomats held talks in Geneva on Friday.",
    };
    let verdict = topic.classify(&doc);
    assert_eq!(verdict.reasons.len(), verdict.clauses.len());
    for (reason, clause) in verdict.reasons.iter().zip(&verdict.clauses) {
        assert!(reason.starts_with(&*clause.name));
        // The first spans are in the reason, except function words (which explain nothing).
        for span in clause.spans.iter().filter(|span| !is_function_word(&span.text)).take(3) {
            assert!(reason.contains(&span.text), "{reason} lacks {}", span.text);
        }
    }
}

#[test]
fn second_shipped_topic_is_data_not_code() {
    let topic = Topic::builtin("us-china-trade-talks").unwrap();
    let positive = Document {
        title: "US and China start tariff talks in Geneva",
        body: "Treasury Secretary Scott Bessent met Chinese Vice Premier He Lifeng on Saturday \
               for talks on tariffs and the trade deficit.",
    };
    assert!(topic.classify(&positive).matched);
    let russian = Document {
        title: "",
        body: "Делегации США и КНР проводят переговоры по торговым вопросам в Швейцарии.",
    };
    assert!(topic.classify(&russian).matched);
    let negative = Document {
        title: "",
        body: "Rubio and Lavrov held talks in Riyadh on Ukraine and on restoring embassies.",
    };
    assert!(!topic.classify(&negative).matched);
}

#[test]
fn topics_can_be_shared_across_tasks() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Topic>();
}

#[test]
fn random_text_never_panics() {
    // A fixed pseudo-random walk over awkward characters: entities, marks, scripts, breaks.
    let palette = [
        "&",
        "amp;",
        "#",
        "x41;",
        ";",
        " ",
        "\n",
        ".",
        "U",
        "S",
        "Лавров",
        "а",
        "\u{0306}",
        "\u{00AD}",
        "’",
        "'",
        "*",
        "\"",
        "ё",
        "Ё",
        "ﬁ",
        "🙂",
        "talks",
        "Putin",
        "Rubio",
        "—",
        "\u{200B}",
    ];
    let topic = Topic::builtin("us-russia-talks").unwrap();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..300 {
        let mut text = String::new();
        for _ in 0..40 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            text.push_str(palette[(state % palette.len() as u64) as usize]);
        }
        let verdict = topic.classify(&Document { title: &text, body: &text });
        assert!((0.0..=1.0).contains(&verdict.score));
    }
}

/// A topic from rules given as (name, query, weight, scope).
fn rules_topic(rules: &[(&str, &str, f64, Option<NegativeScope>)]) -> Topic {
    let spec = TopicSpec {
        id: "rules".into(),
        threshold: Some(0.5),
        rules: Some(
            rules
                .iter()
                .map(|(name, query, weight, scope)| RuleSpec {
                    name: Some(name.to_string()),
                    query: query.to_string(),
                    weight: *weight,
                    scope: *scope,
                })
                .collect(),
        ),
        ..TopicSpec::default()
    };
    Topic::load_all(&[spec], Path::new(".")).unwrap().remove(0)
}

#[test]
fn a_negative_mention_discounts_only_the_evidence_it_explains() {
    let topic = rules_topic(&[
        ("talks", "(Lavrov NEAR/s Rubio) NEAR/s talks", 0.8, None),
        ("weak", "Russia NEAR/s talks", 0.3, None),
        ("sanctions", "sanctions", -0.6, None),
        ("sport", "hockey", -0.9, Some(NegativeScope::Item)),
    ]);
    let score = |title: &str, body: &str| topic.classify(&Document { title, body }).score;
    // The negative mention is in another sentence than the strong evidence: no discount.
    let apart = score("Sanctions, energy, Europe", "Lavrov and Rubio held talks in Riyadh.");
    assert!((apart - 0.8).abs() < 1e-9, "{apart}");
    // In the same sentence it explains (discounts) it.
    let same = score("", "Lavrov and Rubio held talks on sanctions in Riyadh.");
    assert!((same - 0.8 * 0.4).abs() < 1e-9, "{same}");
    // Only the evidence it explains: the strong rule in sentence 2 stays whole, the weak one
    // in sentence 1 (with the sanctions) is discounted; the groups combine by noisy-OR.
    let mixed = score("", "Russia faces talks on sanctions. Lavrov and Rubio held talks.");
    let weak_with_strong = 1.0 - (1.0 - 0.8) * (1.0 - 0.3);
    assert!(mixed < weak_with_strong && mixed > 0.8, "{mixed}");
    // An item-scope rule discounts everything.
    let item = score("Hockey results", "Lavrov and Rubio held talks in Riyadh.");
    assert!((item - 0.8 * 0.1).abs() < 1e-9, "{item}");
    // Every matched rule is still listed.
    let verdict = topic.classify(&Document { title: "Sanctions", body: "Lavrov and Rubio held talks." });
    assert!(verdict.matched && verdict.reasons.iter().any(|reason| reason.starts_with("sanctions")));
}

#[test]
fn only_negative_rules_take_a_scope() {
    let spec = TopicSpec {
        id: "scoped".into(),
        rules: Some(vec![RuleSpec {
            name: None,
            query: "talks".into(),
            weight: 0.5,
            scope: Some(NegativeScope::Item),
        }]),
        ..TopicSpec::default()
    };
    let errors = load_errors(&[spec]);
    assert!(errors[0].contains("rules[0].scope") && errors[0].contains("negative"), "{errors:?}");
    let text = "[[rules]]\nquery = \"talks\"\nweight = -0.5\nscope = \"sentence\"\n";
    let errors = parse_topic_file(text, "x.toml", "x").unwrap_err();
    assert!(errors[0].to_string().contains("scope"), "{}", errors[0]);
}

#[test]
fn eval_over_two_files_prints_each_file_pooled_and_halves() {
    let dir = tempfile::tempdir().unwrap();
    let topic = topic("lavrov NEAR/s rubio", &[]);
    // Ids chosen so each file has an item in either half.
    let ids: Vec<String> = (0..40).map(|n| format!("item-{n}")).collect();
    let even: Vec<&String> = ids.iter().filter(|id| in_even_half(id)).take(2).collect();
    let odd: Vec<&String> = ids.iter().filter(|id| !in_even_half(id)).take(2).collect();
    let line = |id: &str, text: &str, label: bool| {
        serde_json::json!({"id": id, "title": "", "text": text, "label": label}).to_string() + "\n"
    };
    let first = dir.path().join("first.jsonl");
    std::fs::write(
        &first,
        line(even[0], "Lavrov met Rubio.", true) + &line(odd[0], "Lavrov met Rubio.", false),
    )
    .unwrap();
    let second = dir.path().join("second.jsonl");
    std::fs::write(
        &second,
        line(even[1], "The weather.", true) + "\n" + &line(odd[1], "Lavrov and Rubio talked.", true),
    )
    .unwrap();
    let mut out = Vec::new();
    let report = eval_files(&topic, &[first.clone(), second.clone()], false, &mut out).unwrap();
    let printed = String::from_utf8(out).unwrap();
    let counts = |tp, fp, fn_, tn| EvalCounts {
        true_positives: tp,
        false_positives: fp,
        false_negatives: fn_,
        true_negatives: tn,
    };
    assert_eq!(report.files.len(), 2);
    assert_eq!(report.files[0].1.all, counts(1, 1, 0, 0));
    assert_eq!(report.files[0].1.even, counts(1, 0, 0, 0));
    assert_eq!(report.files[0].1.odd, counts(0, 1, 0, 0));
    assert_eq!(report.files[1].1.all, counts(1, 0, 1, 0));
    assert_eq!(report.pooled.all, counts(2, 1, 1, 0));
    assert_eq!(report.pooled.even, counts(1, 0, 1, 0));
    assert_eq!(report.pooled.odd, counts(1, 1, 0, 0));
    assert!(printed.contains("pooled (2 files)"), "{printed}");
    assert!(printed.contains(&first.display().to_string()) && printed.contains("odd half"), "{printed}");
    assert!(printed.ends_with("precision 0.667\nrecall 0.667\nF1 0.667\n"), "{printed}");

    // A corrupt line names the file and the line.
    std::fs::write(&second, line(even[1], "x", true) + "{not json\n").unwrap();
    let error = eval_files(&topic, &[first, second.clone()], false, &mut Vec::new()).unwrap_err();
    assert!(format!("{error:#}").contains(&format!("{}:2", second.display())), "{error:#}");
}

#[test]
fn adversarial_repetition_is_classified_from_a_bounded_prefix() {
    // A page repeating one matching sentence (issue 11: such pages once took seconds to
    // minutes to classify because work grew with the square of the matches). The verdict of a
    // 3 MB page is that of its first MAX_CLASSIFIED_BYTES, and evidence past it is not read.
    let topic = Topic::builtin("us-russia-talks").unwrap();
    for sentence in [
        "Lavrov and Blinken held talks with Russia and the US on a prisoner swap. ",
        "Lavrov and Blinken held talks with Russia and the US on a prisoner swap and ",
        "Лавров и Блинкен провели переговоры с Россией и США. ",
    ] {
        let page = sentence.repeat(3_000_000 / sentence.len());
        let verdict = topic.classify(&Document { title: "", body: &page });
        let prefix = prefix_bytes(&page, MAX_CLASSIFIED_BYTES);
        let bounded = topic.classify(&Document { title: "", body: prefix });
        assert!(verdict.matched, "{sentence}");
        assert_eq!(verdict.score, bounded.score);
        assert_eq!(verdict.reasons, bounded.reasons);
        assert!(verdict.clauses.iter().all(|clause| clause.spans.len() <= MAX_SPANS_PER_CLAUSE));
        assert!(verdict.clauses.iter().flat_map(|clause| &clause.spans).all(|span| span.end <= prefix.len()));
    }
    // Past the cap nothing counts.
    let filler = "Weather was fine and markets were calm. ".repeat(MAX_CLASSIFIED_BYTES / 40 + 10);
    let late = format!("{filler}Lavrov and Blinken held talks in Geneva.");
    assert!(!topic.classify(&Document { title: "", body: &late }).matched);
    // A term's occurrences past MAX_OCCURRENCES_PER_TERM are not seen: one word repeated, then
    // the pair that matches only with its later occurrences.
    let query = topic_with_near();
    let body = format!("{} alpha beta", "Alpha gamma gamma. ".repeat(matcher::MAX_OCCURRENCES_PER_TERM));
    assert!(!query.classify(&Document { title: "", body: &body }).matched);
    let body = format!("{} alpha beta", "Alpha gamma gamma. ".repeat(matcher::MAX_OCCURRENCES_PER_TERM - 2));
    assert!(query.classify(&Document { title: "", body: &body }).matched);
}

fn topic_with_near() -> Topic {
    topic("alpha NEAR/1 beta", &[])
}

/// The contact-event patterns of the shipped topic, one class per case, with sentences written
/// for this test (English and Russian).
#[test]
fn us_russia_talks_models_the_contact_event() {
    let topic = Topic::builtin("us-russia-talks").unwrap();
    let positives = [
        // A call phrased with a communication verb and "by phone" (CAMEO 041).
        ("", "President Trump spoke by phone with Vladimir Putin for two hours on Tuesday."),
        // A call announced for later: "to call" with the other leader as its object.
        ("White House: Trump to call Putin this afternoon", ""),
        // A call named after a leader, the other side in the sentence.
        ("Kremlin welcomes ceasefire after Trump call", "Putin agreed to halt strikes after the Trump call."),
        // Both sides as co-subjects of a meeting, with titles between "and" and the name.
        ("", "Secretary Rubio and Russian Foreign Minister Sergei Lavrov met in Riyadh."),
        // An envoy meets the other side's leader (direct object).
        ("", "The US envoy meets Putin in St Petersburg to discuss a ceasefire."),
        // A summit of the two leaders, as its outcome is assessed.
        ("", "Analysts say the summit between Trump and Putin in Anchorage produced no deal."),
        // A swap made with the other side (guideline 4).
        ("", "President Trump said the exchange with Russia for the jailed teacher was fair."),
        // Readiness to talk, the other side named (planned contact).
        ("Lavrov says Moscow open to talks with Washington on arms control", ""),
        // Russian: a telephone conversation between the two foreign ministers.
        ("", "Лавров и Рубио провели телефонный разговор по инициативе американской стороны."),
        // Russian: a meeting of the envoy with the president.
        ("", "Спецпосланник США Стив Уиткофф встретился в Кремле с Владимиром Путиным."),
    ];
    assert_each_matches(&topic, &positives, true);
    let negatives = [
        // Rule 9: a third party is the other side of the contact.
        ("", "US officials say Kim Jong Un may meet Putin in Vladivostok next month."),
        ("", "China's top diplomat heads to Moscow after meeting the US national security adviser."),
        // Rule 9: the companion of "talks with" is a third party, Russia only the background.
        ("", "The United States held candid talks with China amid Russia's war in Ukraine."),
        // Rule 6: lawmakers urging the president to talk.
        ("", "Thirty lawmakers urged Biden in a letter to negotiate with Putin."),
        // Rule 4: a consular visit to a detainee, not talks between the governments.
        ("", "The US ambassador was allowed to meet the detained reporter in a Moscow prison."),
        // Rule 5: a public demand with no contact named.
        ("", "The Secretary of State called on Russia to release the detained journalist."),
        // Rule 4: a freed person's later life; the swap is background.
        (
            "Freed basketball star signs with new team",
            "She was freed in a prisoner swap with Russia last year.",
        ),
        // Russian, rule 9: Russia and a third country.
        ("", "Путин и Си Цзиньпин провели переговоры в Кремле."),
    ];
    assert_each_matches(&topic, &negatives, false);
}

/// Issue 9: the pattern classes added for 2025–26 coverage, one or more sentences per class,
/// written for this test (English and Russian), with the near misses each class must not take.
#[test]
fn us_russia_talks_reads_2025_era_contacts_by_class() {
    let topic = Topic::builtin("us-russia-talks").unwrap();
    let positives = [
        // CAMEO 042: an official travels to the other side's capital.
        ("US envoy flies to Moscow as deadline nears", ""),
        ("Kremlin negotiator Dmitriev arrives in Washington", ""),
        ("Американская делегация прилетела в Москву", ""),
        // CAMEO 043: a leader receives the other side's envoy, the place between verb and object.
        ("Путин принял в Кремле спецпосланника США", ""),
        // Telling the other side's envoy or minister (a meeting or call, not a speech).
        ("Putin tells Kushner Moscow wants a written guarantee", ""),
        ("Rubio tells Lavrov Washington expects a reply by Friday", ""),
        // A call named by its length.
        ("Trump presses Putin on a truce in a 90-minute call", ""),
        // "In call" without an article.
        ("Sullivan cautioned Patrushev in call about escalation", ""),
        // A summit named by its venue, both leaders named in the item.
        ("Who won in Anchorage?", "Analysts weigh what Trump gave away and what Putin kept."),
        // Two sides who "speak" with a count: a conversation, not two speeches.
        ("Trump and Putin speak again as ceasefire talks stall", ""),
        // A release secured by a deal with the other government (guideline 4).
        ("Washington wins freedom for jailed scientist in deal with the Kremlin", ""),
        // Prisoners exchanged, the verb form.
        ("Moscow and Washington exchange prisoners at Ankara airport", ""),
        // A leader's team as the actor.
        ("Putin's envoy and US officials meet in Geneva", ""),
        // Handing the other side a written proposal.
        ("Washington hands Moscow a revised draft of the peace framework", ""),
        ("Москва передала Вашингтону ответ на американский проект", ""),
        // A trilateral round listed by its three parties (guideline 1).
        ("US, Russian and Ukrainian negotiators meet in Abu Dhabi", ""),
        // A contact whose noun names both parties, a third party's contact in the same sentence.
        (
            "",
            "Zelensky will see Merz on Monday, days after the talks between the United States and \
             Putin ended without a deal.",
        ),
        // Russian: video conference; declined surnames; "позвонил"; "обсуждают".
        ("Путин и Трамп проведут видеоконференцию", ""),
        ("Ушаков провел телефонный разговор с Уиткоффом", ""),
        ("Трамп позвонил Путину после атаки дронов", ""),
        ("Лавров: Россия и США обсуждают возобновление авиасообщения", ""),
        // "Their" call or meeting, both sides in the sentence.
        ("Putin says Trump was candid in their latest call", ""),
        // Responding to the other side's offer (a status of talks: proposed, refused).
        ("Kremlin turns down Trump's offer of a 30-day truce", ""),
        ("Кремль отклонил предложение Трампа о перемирии", ""),
        // An official works to free people the other side holds (guideline 4).
        ("US hostage envoy vows to bring home Americans jailed in Russia", ""),
        // One side's deal that frees someone the other side held (guideline 4).
        ("Biden defends the deal that freed a US nurse from Russian jail", ""),
    ];
    assert_each_matches(&topic, &positives, true);
    let negatives = [
        // A third party travelling to Moscow; a US official travelling elsewhere.
        ("Hungary's prime minister flies to Moscow to see Putin", ""),
        ("US envoy flies to Kyiv for talks with Zelensky", ""),
        // Receiving someone who is not the other side.
        ("Путин принял в Кремле премьер-министра Индии", ""),
        // A protest note is a one-way act (guideline 5).
        ("Moscow hands US envoy a protest note over drone strikes", ""),
        // Both attending a multilateral summit (guideline 3).
        ("Trump and Putin to attend the APEC summit in Korea", ""),
        // A venue with one leader and a third party's contact (guideline 9).
        ("Trump hosts Zelensky after Alaska", "Trump met Zelensky a week after he saw Putin in Alaska."),
        // A leader's name modifying a non-agent.
        ("Biden stops by to meet a famed Putin whisperer", ""),
        // Two leaders "speak" on one day: speeches (guideline 5).
        ("Biden and Putin to speak on Tuesday", "Both leaders will give speeches on the war."),
        ("Biden and Putin to speak at the same time on Tuesday", ""),
        // A third party rejecting the offer; a demand for release with no effort named.
        ("Zelensky rejects Trump's offer of a territorial swap", ""),
        ("US says Russia must free the jailed reporter", ""),
        // A swap between Russia and a third country, no US party.
        ("Emirati-brokered deal frees Ukrainian soldiers held by Russia", ""),
    ];
    assert_each_matches(&topic, &negatives, false);
}

/// The classes found on fresh items written to the guideline (the probe sets; README, "Quality
/// and speed"), each with sentences written here.
#[test]
fn us_russia_talks_reads_contacts_phrased_as_the_probe_classes() {
    let topic = Topic::builtin("us-russia-talks").unwrap();
    let positives = [
        // Both sides in the headline, the contact told in the story by the two named again.
        ("Putin gives Rubio's plan a cool reception", "The two ministers spoke for an hour on Monday."),
        ("Trump warns Putin over the grain corridor", "The two leaders met on the sidelines for 40 minutes."),
        // ... or as a call of some length, or "their" meeting with words between.
        ("Biden presses Putin on the border build-up", "The 50-minute call ended without a breakthrough."),
        ("Vance and Lavrov differ on sanctions relief", "It was their second meeting this year."),
        // A video call; "call" named by an order ("latest call").
        ("Biden cautions Putin in a two-hour video call", ""),
        ("Trump sees no progress with Putin in latest call", ""),
        // "Call with" without an article.
        ("Putin pauses refinery strikes after call with Trump", ""),
        // Dialling and ringing the other side.
        ("Biden dials Putin on his first day in office", ""),
        // Speaking "briefly" or on the sidelines is a conversation, not two speeches.
        ("Blinken and Lavrov speak briefly at the Bali meeting", ""),
        // Striking a deal together; concluding an agreement with the other side.
        ("Rubio and Lavrov strike a deal on embassy staffing", ""),
        ("The US reached an agreement with Russia on Black Sea shipping", ""),
        // A trilateral round listed by its parties, or named trilateral (guideline 1).
        ("Russia, Ukraine and US hold a second round of talks in Geneva", ""),
        (
            "First trilateral talks end in Abu Dhabi",
            "Delegations of Russia, the United States and Ukraine met for two days.",
        ),
        // Institutions that act for the government; a standing military channel.
        ("Pentagon opens a deconfliction line with the Russian military", ""),
        ("Swap of two dual nationals was negotiated with Russian intelligence, CIA says", ""),
        // A joint statement as the outcome.
        ("Trump and Putin issue joint statement on Arctic shipping", ""),
        // Russian: a joint statement; a named US negotiator as Russian news spells him.
        ("Путин и Трамп опубликовали совместное заявление", ""),
        ("Рябков и Биллингсли провели консультации в Женеве", ""),
        // An offer to free detainees is not a visit to them (guideline 4).
        ("Moscow turned down a US offer to free two jailed Americans", ""),
        // A leader hosted at a family home: the family is the place, not the party.
        ("Bush hosts Putin at the family ranch in Crawford", ""),
        // A call of a length written as one word; "the call" told again under such a headline.
        ("Obama presses Medvedev in hourlong call", ""),
        ("Biden tells Putin the West will answer", "Officials said the call lasted 50 minutes."),
        // One side talks with the other's delegation, named with a third side's.
        (
            "Black Sea truce agreed",
            "The White House said it followed separate talks with Russian and Ukrainian delegations.",
        ),
        // A meeting told by its length, or by sitting across the table.
        ("Sherman and Ryabkov spent seven hours at the mission in Geneva", ""),
        (
            "Inside the palace: five hours with Lavrov",
            "Rubio and Waltz sat across the table from the Russian foreign minister.",
        ),
        // A pronoun co-subject after one side's actor ("Lavrov said he and Kerry ...").
        ("No common ground", "Lavrov said he and Kerry had failed to agree at their talks in London."),
        // Speeches in the sentence do not veto a meeting of the two named in it.
        ("Obama and Putin met after their rival speeches at the UN", ""),
        // Subject, verb and object with nothing between: a third party, a forum's clashes or a
        // headline's sanctions elsewhere in the sentence are other mentions.
        ("Hours before Zelensky's visit, Trump phoned Moscow", ""),
        ("At the UN, Obama and Putin met to avoid clashes over Syria", "They spoke for an hour."),
        ("Days after new sanctions, a Kremlin envoy arrives in Washington", ""),
        // Two defence chiefs "speak" after an incident: a call ("to speak at" would be speeches).
        ("Hegseth, Belousov speak after drone incident over the Baltic", ""),
        // A trip named by its destination.
        ("Kushner readies Moscow trip as talks resume", ""),
        // Granting the other side's request (a response to it, as to an offer).
        ("Putin grants Trump's request for a week-long energy truce", ""),
        // A meeting proposed for after the inauguration is not a transition contact.
        (
            "Putin ready to meet Trump after the inauguration",
            "He said he had not talked to the president-elect in years.",
        ),
        // Russian: a dialogue with "the Americans" about freeing detainees (guideline 4).
        ("Путин: с американцами идет диалог об освобождении журналиста", ""),
        // A call told by how long it lasted, under a headline naming both sides.
        (
            "Trump fails to win truce from Putin",
            "After a call lasting two hours, the Kremlin said Putin agreed to pause strikes.",
        ),
        // A call named after a leader with its length; a summit named by its venue, one side named.
        ("Trump says talks will start after two-hour Putin call", ""),
        ("Lavrov calls Anchorage talks useful", ""),
        // An agreement "reached with" the other side (passive).
        (
            "Kremlin sets conditions",
            "Moscow said the deal reached with Washington would start after sanctions are lifted.",
        ),
        // A call with the other side's leader before a third party's meeting.
        ("Trump says he had a good call with Putin before the Zelensky meeting", ""),
        // The two co-subjects of "discuss": a third country as the topic is no third party.
        ("Trump and Putin discuss the Iran conflict in phone call", ""),
        // A spy chief named with his title; a call "between" the two, lawmakers in its sentence.
        ("CIA director meets Russian spy boss Naryshkin in Ankara", ""),
        ("Leaked transcript", "A call between Witkoff and Ushakov angered Republican lawmakers."),
        // Holding a call, the two named as a compound.
        ("Hegseth, Belousov hold call after the Baltic incident", ""),
        // Receiving an envoy in another residence.
        ("Путин принял в Санкт-Петербурге спецпосланника президента США", ""),
        // A trade of detainees is a swap.
        (
            "Whelan's family welcomes the Griner trade",
            "Griner was traded for a Russian arms dealer held in the US.",
        ),
    ];
    assert_each_matches(&topic, &positives, true);
    let negatives = [
        // The two sides named again, but the call in the story is with a third party.
        ("Russia calls US aid to Kyiv a provocation", "Zelensky thanked Biden over the phone on Friday."),
        // "The president" is not "the presidents": a one-way act signed by one leader.
        ("Biden signs Russia sanctions bill", "The president signed the bill on Wednesday."),
        // Former officials holding talks (the US side is the government).
        ("Former US officials held secret talks with Lavrov", ""),
        // Contacts made during a transition (guideline 6).
        ("Aide quits over calls with the Russian envoy during the transition", ""),
        // An obituary: past summits as biography (guideline 8).
        ("Soviet leader who negotiated with Reagan dies at 91", "His summits with Reagan ended an era."),
        // A source of a statement next to a third party's name is not a compound party.
        ("Kim and Putin to meet in Vladivostok, US officials say", ""),
        // "Принял" a resolution is adopting it, not receiving anyone.
        ("Совбез принял резолюцию", "Совбез принял резолюцию, внесенную США, Россия ее поддержала."),
        // Open to dialogue with any country: no specific contact (guideline 5).
        ("Песков о диалоге", "Песков сказал, что Москва открыта к диалогу с любыми странами, включая США."),
        // Companies of the two countries (guideline 7).
        ("US, Russian energy companies sign deals at business forum", ""),
        // A treaty's end is no outcome of talks.
        ("The last US-Russia arms treaty lapses at midnight", ""),
        // Advice that one side must talk (guideline 6).
        ("Opinion: Washington must start preparing for talks with Moscow", ""),
        // A transition contact is what the whole item is about (guideline 6).
        (
            "Kremlin denies report of a Trump-Putin call",
            "Peskov said the report that the president-elect spoke to Putin was fiction.",
        ),
        // A swap brokered by a third state between Russia and Ukraine (guideline 2, 4).
        (
            "Qatar-brokered swap frees two Americans held by Russian forces",
            "They were part of an exchange between Russia and Ukraine.",
        ),
        (
            "Кремль опроверг сообщения о разговоре Путина и Трампа",
            "Речь шла о звонке избранного президента США.",
        ),
        // An ambassador arriving to take up the post; "in exchange for" about a pipeline;
        // "обмен разведданными" (intelligence sharing) is no swap.
        ("Russia's new ambassador arrives in Washington", "He flew in to take up his post."),
        (
            "US drops its pipeline objections",
            "Washington dropped its sanctions on the Russian pipeline in exchange for German pledges.",
        ),
        ("США возобновят обмен разведданными с Киевом", "Рубио заявил, что мяч на стороне России."),
        // Trade talks and trading barbs are no swap.
        (
            "India weighs Russia ties against US trade talks",
            "Putin and US officials trade barbs over tariffs.",
        ),
        // An intention to take a proposal "to the Russians" after a meeting with Ukraine (guideline 1).
        ("Kyiv accepts truce plan in Jeddah", "Rubio said the US would take the offer to the Russians."),
        // "Russia and Ukraine" in the headline: "the two sides" are those two (guideline 2).
        ("Trump says Russia and Ukraine are close to a deal", "He said the two sides should meet soon."),
    ];
    assert_each_matches(&topic, &negatives, false);
}

#[test]
fn a_strong_contact_is_not_vetoed_by_an_unrelated_negative_mention() {
    let topic = Topic::builtin("us-russia-talks").unwrap();
    // A tag-list headline naming sanctions, and a summit reported in the text.
    let doc = Document {
        title: "Sanctions | Oil | Ukraine war",
        body: "Trump and Putin met for three hours at the summit in Alaska on Friday.",
    };
    let verdict = topic.classify(&doc);
    assert!(verdict.matched, "{verdict:#?}");
    // The same negative evidence in the sentence of the only contact word does discount it.
    let doc = Document { title: "", body: "New US sanctions on Russia were discussed." };
    assert!(!topic.classify(&doc).matched);
}

#[test]
fn function_words_are_recognised_in_any_case_and_script() {
    for word in ["with", "With", "AND", " the ", "и", "И", "по", "ИЛИ"] {
        assert!(super::is_function_word(word), "{word}");
    }
    for word in ["Russia", "talks", "и по", "withdraw", "Путин", "ином", ""] {
        assert!(!super::is_function_word(word), "{word}");
    }
}

/// Issue 13: `matched` shows the content words that made a rule fire, not the function words
/// ("with", "и") a proximity rule also needed.
#[test]
fn evidence_shows_content_words_not_function_words() {
    let english = topic("talks PRE/1 with PRE/1 Lavrov", &[]);
    let verdict = english.classify(&Document { title: "", body: "Rubio held talks with Lavrov on Tuesday." });
    assert!(verdict.matched);
    let reasons = verdict.reasons.join(" ");
    assert!(reasons.contains("“talks”") && reasons.contains("“Lavrov”"), "{reasons}");
    assert!(!reasons.contains("“with”"), "{reasons}");
    let russian = topic("Лавров PRE/1 и PRE/1 Рубио", &[]);
    let verdict = russian.classify(&Document {
        title: "", body: "Лавров и Рубио провели переговоры."
    });
    let reasons = verdict.reasons.join(" ");
    assert!(reasons.contains("“Лавров”") && !reasons.contains("“и”"), "{reasons}");
    // A clause that matched only a function word still shows it.
    let only = topic("with", &[]);
    let verdict = only.classify(&Document { title: "", body: "with" });
    assert!(verdict.reasons.join(" ").contains("“with”"));
}

/// Issue 13: the snippet is the body's sentence with the evidence, not the headline again (the
/// alert has the title already); without evidence in the body it is the headline.
#[test]
fn the_snippet_prefers_the_body_sentence_with_the_evidence() {
    let talks = topic("Lavrov NEAR/5 talks", &[]);
    let doc = Document {
        title: "Lavrov and Rubio hold talks",
        body: "It rained in the city. Later, Lavrov said the talks with Rubio were useful. Markets rose.",
    };
    let verdict = talks.classify(&doc);
    assert!(verdict.snippet.starts_with("…Later, Lavrov said the talks"), "{}", verdict.snippet);
    let title_only = Document { title: "Lavrov and Rubio hold talks", body: "No details were given." };
    assert!(talks.classify(&title_only).snippet.starts_with("Lavrov and Rubio hold talks"));
}

/// Issue 13: a misspelt list name suggests the list that was meant.
#[test]
fn an_unknown_list_suggests_the_closest_one() {
    let spec = TopicSpec {
        id: "t".into(),
        query: Some("@russian_officals AND talks".into()),
        lists: Some([("russian_officials".to_string(), vec!["Lavrov".to_string()])].into_iter().collect()),
        ..TopicSpec::default()
    };
    let errors = load_errors(&[spec]);
    assert!(
        errors
            .iter()
            .any(|error| error.contains("unknown list @russian_officals; did you mean @russian_officials?")),
        "{errors:#?}"
    );
}

#[test]
fn judge_scores_like_classify_and_explains_only_matches() {
    let topic = Topic::builtin("us-russia-talks").unwrap();
    let documents = [
        ("Lavrov and Rubio hold talks in Riyadh", "The two ministers met for four hours on Tuesday."),
        ("Weather: heavy rain expected in Moscow", "Forecasters said the rain would last until Friday."),
        ("US and Russian officials to meet next week", "Talks on embassies are set to resume in Istanbul."),
        ("Putin says sanctions hurt Europe more", "The Russian president spoke at an economic forum."),
    ];
    let (mut matched, mut unmatched) = (0, 0);
    // Twice over, so the second pass reads every word from this thread's word cache.
    for _ in 0..2 {
        for (title, body) in documents {
            let doc = Document { title, body };
            let (full, brief) = (topic.classify(&doc), topic.judge(&doc));
            assert_eq!((full.score, full.matched), (brief.score, brief.matched), "{title}");
            if brief.matched {
                matched += 1;
                assert_eq!(brief.reasons, full.reasons, "{title}");
                assert_eq!(brief.snippet, full.snippet, "{title}");
            } else {
                unmatched += 1;
                assert!(brief.reasons.is_empty() && brief.clauses.is_empty(), "{title}: {:?}", brief.reasons);
            }
        }
    }
    assert!(matched > 0 && unmatched > 0, "both kinds: {matched} matched, {unmatched} not");
}

#[test]
fn a_word_cached_for_one_topic_is_matched_afresh_by_another() {
    // Two programs on one thread: the word cache is per program, so "talks" found by the
    // first topic's terms does not leak into the second, which has no such term.
    let talks = topic("talks", &[]);
    let summit = topic("summit", &[]);
    for _ in 0..2 {
        assert!(talks.classify(&Document { title: "", body: "Talks resume" }).matched);
        assert!(!summit.classify(&Document { title: "", body: "Talks resume" }).matched);
        assert!(summit.classify(&Document { title: "", body: "A summit in Alaska" }).matched);
        assert!(!talks.classify(&Document { title: "", body: "A summit in Alaska" }).matched);
    }
}

/// The probe sets (`tests/fixtures/relevance/probe`, written to the labelling guideline by the
/// team, never from the dev sets): the shipped topic keeps at least the precision and recall it
/// had when they were added, file by file, so a change that trades one class for another shows.
#[test]
fn us_russia_talks_holds_its_figures_on_the_probe_sets() {
    let topic = Topic::builtin("us-russia-talks").unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/relevance/probe");
    // (file, precision, recall) floors: a little under the figures at the time (README).
    let floors = [
        ("probe-en.jsonl", 0.96, 0.97),
        ("probe-ru.jsonl", 0.93, 0.96),
        ("traffic-en.jsonl", 0.96, 0.96),
        ("hard-en.jsonl", 0.98, 0.80),
        ("hard-ru.jsonl", 0.95, 0.83),
        ("final-en.jsonl", 0.96, 0.93),
        ("final-ru.jsonl", 0.97, 0.95),
        ("traffic2-en.jsonl", 0.95, 0.96),
        ("traffic-ru.jsonl", 0.95, 0.95),
        ("y2025-en.jsonl", 0.97, 0.91),
        ("traffic3-en.jsonl", 0.93, 0.95),
        ("blind-en.jsonl", 0.97, 0.91),
        ("blind-ru.jsonl", 0.96, 0.96),
        // Measured blind with the final topic and not used to tune it.
        ("untuned-en.jsonl", 0.82, 0.82),
        ("untuned-ru.jsonl", 0.84, 0.91),
    ];
    for (file, precision, recall) in floors {
        let path = dir.join(file);
        let report = eval_files(&topic, &[path], false, &mut std::io::sink()).unwrap();
        let counts = &report.pooled.all;
        assert!(
            counts.precision() >= precision && counts.recall() >= recall,
            "{file}: precision {:.3} (floor {precision}), recall {:.3} (floor {recall})",
            counts.precision(),
            counts.recall()
        );
    }
}
