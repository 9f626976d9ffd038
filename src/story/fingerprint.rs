//! An item's fingerprint: what the join decision compares. Built from the title, the extracted
//! text and the link, in English and Russian. No I/O, never panics on input.

use rust_stemmers::{Algorithm, Stemmer};
use std::collections::HashMap;
use std::sync::LazyLock;
use url::Url;

/// MinHash functions in a body signature: 32 LSH bands of 4 rows.
pub const MINHASH_PERMUTATIONS: usize = 128;
/// Rows per LSH band of the body signature.
pub const BAND_ROWS: usize = 4;
/// Words per body shingle.
pub const SHINGLE_WORDS: usize = 3;
/// Only this many words of the body count (the lead carries the story; page furniture and
/// "related stories" lists come last, and a bound keeps the cost per item bounded).
pub const MAX_BODY_WORDS: usize = 600;
/// Words of the body, after the title, that count as the "lead" for venues and days.
const LEAD_WORDS: usize = 35;

/// The language of an item, by the script of most of its letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    English,
    Russian,
}

/// Whether the item reports an event that happened or one that is planned / announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Unknown,
    Planned,
    Happened,
}

/// What kind of contact the item reports, when its headline or lead says so unambiguously.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Predicate {
    Unknown,
    Call,
    Meeting,
}

/// The fingerprint of one item.
#[derive(Debug, Clone)]
pub struct Fingerprint {
    /// The canonical link (scheme, `www.`, fragment, tracking parameters and a trailing slash
    /// dropped), when the item has one.
    pub url: Option<String>,
    /// Content-word stems (hashed) with their weight: title words count twice.
    pub terms: Vec<(u64, f32)>,
    /// The headline's content-word stems (hashed, sorted, distinct): the title, or the first
    /// sentence when the item has none. Outlets that write the same event in their own words
    /// still name it in the headline with the same few rare words (names, the act).
    pub headline: Vec<u64>,
    /// Named entities (hashed stems of capitalised words that are not sentence openers, titles
    /// or months), with their counts, most frequent first.
    pub actors: Vec<(u64, u32)>,
    /// Meeting places named in the headline or lead (hashed).
    pub venues: Vec<u64>,
    /// Days named in the headline or lead as the event's day: weekdays 1–7, dates as month*100+day.
    pub days: Vec<u16>,
    /// Planned vs happened, from the headline (or lead).
    pub mode: Mode,
    /// Call vs meeting, from the headline (or lead).
    pub predicate: Predicate,
    /// The headline or lead says this is a repeat ("second time", "again", "another call").
    pub repeat: bool,
    /// Distinct word shingles of the body.
    pub shingles: u32,
    /// MinHash signature of the body shingles (empty when the body has fewer than
    /// `SHINGLE_WORDS` words).
    pub minhash: Vec<u32>,
    /// The main language.
    pub lang: Lang,
}

/// A word as found: its lower-case form and whether it was capitalised where a sentence does
/// not start.
struct Word {
    lower: String,
    capitalised: bool,
    sentence_start: bool,
    in_title: bool,
}

/// The stemmers, shared: `Stemmer` holds no state between calls.
struct Stemmers {
    english: Stemmer,
    russian: Stemmer,
}

static STEMMERS: LazyLock<Stemmers> = LazyLock::new(|| Stemmers {
    english: Stemmer::create(Algorithm::English),
    russian: Stemmer::create(Algorithm::Russian),
});

fn is_cyrillic(word: &str) -> bool {
    word.chars().any(|c| matches!(c, 'а'..='я' | 'ё' | 'ѐ'..='џ'))
}

/// The stem of a lower-case word. Russian is stemmed twice so that surnames in `-ов`/`-ин`
/// agree across cases (`лавров`, `лаврова` → `лавр`), as `classify` does.
fn stem(word: &str) -> String {
    if is_cyrillic(word) {
        let once = STEMMERS.russian.stem(word).into_owned();
        if once.chars().count() > 4 {
            let twice = STEMMERS.russian.stem(&once).into_owned();
            if twice.chars().count() >= 4 {
                return twice;
            }
        }
        once
    } else {
        STEMMERS.english.stem(word).into_owned()
    }
}

/// FNV-1a then a splitmix64 finaliser: a stable 64-bit hash (stored signatures and keys must
/// not change between releases, which rules out `std`'s `DefaultHasher`).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    mix(hash)
}

/// splitmix64's finaliser.
pub(crate) fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The multipliers and offsets of the MinHash family `(a·x + b) >> 32`, from a fixed seed.
static PERMUTATIONS: LazyLock<Vec<(u64, u64)>> = LazyLock::new(|| {
    let mut state: u64 = 0x6e65_7773_7761_7463; // "newswatc"
    (0..MINHASH_PERMUTATIONS)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let multiplier = mix(state) | 1;
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            (multiplier, mix(state))
        })
        .collect()
});

/// The MinHash signature of a set of 64-bit shingle hashes.
pub fn minhash(shingles: &[u64]) -> Vec<u32> {
    if shingles.is_empty() {
        return Vec::new();
    }
    let mut signature = vec![u32::MAX; MINHASH_PERMUTATIONS];
    for &shingle in shingles {
        for (slot, &(multiplier, offset)) in signature.iter_mut().zip(PERMUTATIONS.iter()) {
            let value = (multiplier.wrapping_mul(shingle).wrapping_add(offset) >> 32) as u32;
            if value < *slot {
                *slot = value;
            }
        }
    }
    signature
}

/// The Jaccard similarity two signatures estimate (0 when either is empty).
pub fn jaccard(left: &[u32], right: &[u32]) -> f64 {
    if left.is_empty() || left.len() != right.len() {
        return 0.0;
    }
    let equal = left.iter().zip(right).filter(|(a, b)| a == b).count();
    equal as f64 / left.len() as f64
}

/// The share of the smaller shingle set found in the larger, from the Jaccard estimate and
/// the set sizes: |A∩B| = J(|A|+|B|)/(1+J).
pub fn containment(left: &Fingerprint, right: &Fingerprint) -> f64 {
    let smaller = left.shingles.min(right.shingles);
    if smaller == 0 {
        return 0.0;
    }
    let similarity = jaccard(&left.minhash, &right.minhash);
    let overlap = similarity * f64::from(left.shingles + right.shingles) / (1.0 + similarity);
    (overlap / f64::from(smaller)).min(1.0)
}

/// Function words and news filler that carry no story: left out of terms and actors.
#[rustfmt::skip]
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "again", "against", "all", "also", "an", "and", "any", "are", "as", "at",
    "be", "been", "before", "being", "between", "both", "but", "by", "can", "could", "did", "do",
    "does", "during", "each", "for", "from", "had", "has", "have", "he", "her", "here", "him",
    "his", "how", "i", "if", "in", "into", "is", "it", "its", "just", "more", "most", "mr", "mrs",
    "ms", "new", "no", "not", "now", "of", "on", "one", "only", "or", "other", "our", "out", "over",
    "said", "say", "says", "she", "should", "so", "some", "such", "than", "that", "the", "their",
    "them", "then", "there", "these", "they", "this", "those", "through", "to", "told", "under",
    "up", "us_", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who",
    "why", "will", "with", "would", "year", "years", "you", "your", "news", "read", "more",
    "according", "reported", "report", "reports", "week", "day", "time", "first", "last",
    // Russian
    "а", "в", "во", "вот", "все", "всех", "где", "да", "для", "до", "его", "ее", "если", "есть",
    "же", "за", "и", "из", "или", "им", "их", "к", "как", "ко", "которые", "который", "ли", "мы",
    "на", "не", "нет", "но", "о", "об", "он", "она", "они", "оно", "от", "по", "при", "с", "со",
    "так", "также", "то", "того", "только", "у", "уже", "что", "это", "этом", "этот", "бы", "был",
    "была", "были", "было", "быть", "будет", "сказал", "заявил", "заявила", "словам", "году",
    "года", "время", "также", "новости",
];

/// Capitalised words that are titles, months, weekdays or sentence fillers, not actors.
#[rustfmt::skip]
const NOT_ACTORS: &[&str] = &[
    "president", "secretary", "minister", "foreign", "state", "deputy", "ambassador", "director",
    "chief", "general", "prime", "senator", "spokesman", "spokeswoman", "official", "officials",
    "department", "ministry", "mr", "mrs", "ms", "dr", "sir", "news", "update", "live", "breaking",
    "exclusive", "watch", "video", "photo", "opinion", "analysis", "read", "more", "sign", "follow",
    "copyright", "all", "rights", "reserved", "january", "february", "march", "april", "may",
    "june", "july", "august", "september", "october", "november", "december", "monday", "tuesday",
    "wednesday", "thursday", "friday", "saturday", "sunday", "президент", "министр", "глава",
    "госсекретарь", "помощник", "пресс", "секретарь", "январь", "февраль", "март", "апрель", "май",
    "июнь", "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь",
];

/// Where meetings happen: a named venue in both headlines that differs means two events.
/// Capitals of the two sides are left out: "Moscow" and "Washington" also stand for the
/// governments.
#[rustfmt::skip]
const VENUES: &[(&str, &[&str])] = &[
    ("geneva", &["geneva", "женев"]), ("helsinki", &["helsinki", "хельсинк"]),
    ("riyadh", &["riyadh", "эр-рияд", "рияд"]), ("saudi", &["saudi", "саудовск"]),
    ("istanbul", &["istanbul", "стамбул"]), ("ankara", &["ankara", "анкар"]),
    ("turkey", &["turkey", "türkiye", "турци"]),
    ("alaska", &["alaska", "anchorage", "аляск", "анкоридж"]),
    ("budapest", &["budapest", "hungary", "будапешт", "венгри"]), ("vienna", &["vienna", "вене ", "вена ", "вену "]),
    ("reykjavik", &["reykjavik", "рейкьявик"]), ("india", &["india", "delhi", "индии ", "индия ", "индию ", "нью дели"]),
    ("osaka", &["osaka", "осак"]), ("japan", &["japan", "япони"]),
    ("hamburg", &["hamburg", "гамбург"]), ("bali", &["bali", "indonesia", "бали", "индонези"]),
    ("sochi", &["sochi", "сочи "]),
    ("abudhabi", &["abu", "dhabi", "абу-даби", "оаэ", "uae", "emirates"]),
    ("cairo", &["cairo", "egypt", "каир", "египт"]), ("paris", &["paris", "париж"]),
    ("berlin", &["berlin", "берлин"]), ("london", &["london", "лондон"]),
    ("beijing", &["beijing", "пекин"]), ("minsk", &["minsk", "минск"]),
    ("stockholm", &["stockholm", "стокгольм"]), ("lausanne", &["lausanne", "лозанн"]),
    ("prague", &["prague", "праге ", "прага ", "прагу "]), ("oman", &["oman", "muscat", "оман", "маскат"]),
    ("doha", &["doha", "qatar", "доха", "катар"]), ("jeddah", &["jeddah", "джидд"]),
    
];

/// Headline words saying the event is still to come.
#[rustfmt::skip]
const PLANNED: &[&str] = &[
    "to meet", "to hold", "to speak", "to talk", "to visit", "to travel", "set to", "plans to",
    "plan to", "planned", "expected to", "upcoming", "ahead of", "next week", "preparing", "will meet",
    "will hold", "will speak", "will talk", "will visit", "will travel", "could meet", "may meet",
    "agree to meet", "встретятся", "проведут", "состоится", "планируют", "планирует", "намерены",
    "готовят", "подготовк", "предстоящ", "пройдет", "пройдут",
];

/// Headline words saying the meeting or call has happened.
#[rustfmt::skip]
const HAPPENED: &[&str] = &[
    "met", "meet", "meets", "held", "holds", "spoke", "speaks", "talked", "confronts", "encounter",
    "hold talks", "began", "begin", "begins", "kicks off", "встретились", "провели", "обсудили",
    "состоялись", "состоялся", "состоялась", "поговорили", "созвонились", "начались", "провел",
    "обсудил",
];

/// A call: "call" alone is not enough ("calls on", "calls for", "calls it a mistake").
#[rustfmt::skip]
const CALL_WORDS: &[&str] = &[
    "phone", "telephone", "phoned", "call with", "calls with", "a call", "the call", "rare call",
    "in call", "first call", "second call", "phone call", "телефон", "звонок", "созвонились",
    "разговор",
];

#[rustfmt::skip]
const MEETING_WORDS: &[&str] = &[
    "meet", "meets", "met", "meeting", "meetings", "summit", "face to face", "encounter", "встреч",
    "встретил", "встретят", "саммит",
];

#[rustfmt::skip]
const REPEAT_WORDS: &[&str] = &[
    "second time", "third time", "again", "another call", "another meeting", "second call",
    "second meeting", "new round", "повторно", "второй раз", "снова", "новый раунд",
];

#[rustfmt::skip]
const WEEKDAYS: &[(&str, u16)] = &[
    ("monday", 1), ("tuesday", 2), ("wednesday", 3), ("thursday", 4), ("friday", 5),
    ("saturday", 6), ("sunday", 7), ("понедельник", 1), ("вторник", 2), ("сред", 3), ("четверг", 4),
    ("пятниц", 5), ("суббот", 6), ("воскресень", 7),
];

#[rustfmt::skip]
const MONTHS: &[(&str, u16)] = &[
    ("january", 1), ("february", 2), ("march", 3), ("april", 4), ("june", 6), ("july", 7),
    ("august", 8), ("september", 9), ("october", 10), ("november", 11), ("december", 12),
    ("января", 1), ("февраля", 2), ("марта", 3), ("апреля", 4), ("мая", 5), ("июня", 6),
    ("июля", 7), ("августа", 8), ("сентября", 9), ("октября", 10), ("ноября", 11), ("декабря", 12),
];

/// Words that news rewrites use for one another ("postpones" / "delays" / "calls off",
/// "reporter" / "journalist"): each group is one term, so that a rewrite in other words still
/// shares it. English words are listed whole; Russian ones are prefixes. A group's name starts
/// with `#`, which no word can.
#[rustfmt::skip]
const CONCEPTS: &[(&str, &[&str])] = &[
    ("#meet", &["meet", "meets", "met", "meeting", "meetings", "talk", "talks", "talked", "encounter",
        "encounters", "confront", "confronts", "confronted", "negotiate", "negotiates", "negotiated",
        "negotiating", "negotiation", "negotiations", "dialogue", "встреч", "встрет", "переговор"]),
    ("#phone", &["phone", "phoned", "phones", "telephone", "телефон", "созвон"]),
    ("#postpone", &["postpone", "postpones", "postponed", "delay", "delays", "delayed", "cancel",
        "cancels", "cancelled", "canceled", "scrap", "scraps", "scrapped", "отлож", "отмен", "перенес",
        "перенос"]),
    ("#swap", &["swap", "swaps", "swapped", "swapping", "exchange", "exchanges", "exchanged", "trade",
        "traded", "обмен"]),
    ("#release", &["release", "releases", "released", "free", "frees", "freed", "freeing", "освобо"]),
    ("#journalist", &["reporter", "reporters", "journalist", "journalists", "correspondent",
        "correspondents", "журналист", "корреспондент", "репортер"]),
    ("#detain", &["detain", "detains", "detained", "detention", "arrest", "arrests", "arrested",
        "jail", "jailed", "imprisoned", "задерж", "арест"]),
    ("#arms", &["arms", "weapon", "weapons", "munitions", "оруж", "вооружен"]),
    // The noun and the verb of one act, which the stemmer keeps apart ("suspension" /
    // "suspending", "collision" / "collided"), with the words outlets use for one another in a
    // headline ("withdrawal", "visit" / "trip" / "arrives"). Groups of words that most news uses
    // ("accuse", "blame") are left out: one common term in place of several rarer ones lowers the
    // weight that rewrites share. "Spy" / "espionage" is left out too: it made a call for a
    // jailed reporter's release join the story of another official's call about him.
    ("#suspend", &["suspend", "suspends", "suspended", "suspending", "suspension", "withdraw",
        "withdraws", "withdrew", "withdrawn", "withdrawing", "withdrawal", "приостан"]),
    ("#visit", &["visit", "visits", "visited", "visiting", "trip", "trips", "arrive", "arrives",
        "arrived", "arriving", "arrival", "travel", "travels", "traveled", "travelled", "traveling",
        "travelling", "визит", "посет", "прибыл", "прибыт"]),
    ("#reject", &["reject", "rejects", "rejected", "rejecting", "rejection", "refuse", "refuses",
        "refused", "refusal", "rebuff", "rebuffs", "rebuffed", "отверг", "отклон"]),
    ("#propose", &["proposal", "proposals", "propose", "proposes", "proposed", "offer", "offers",
        "offered", "предлож"]),
    ("#collide", &["collision", "collide", "collides", "collided", "crash", "crashes", "crashed",
        "столкнов", "столкнул"]),
    ("#mutiny", &["mutiny", "rebellion", "revolt", "uprising", "insurrection", "мятеж", "бунт"]),
    ("#warn", &["warn", "warns", "warned", "warning", "warnings", "предупред"]),
    ("#nuclear", &["nuclear", "atomic", "ядерн", "атомн"]),
    ("#treaty", &["treaty", "treaties", "pact", "pacts", "договор"]),
    // A country and its adjective ("Russia" / "Russian" / "российский") are one term and one
    // actor: rewrites switch between them ("Russia rejects" / "Russian officials reject").
    ("#russia", &["russia", "russian", "russians", "росси"]),
    ("#us", &["us", "america", "american", "americans", "сша", "американ", "америк"]),
    ("#ukraine", &["ukraine", "ukrainian", "ukrainians", "украин"]),
    ("#china", &["china", "chinese", "кита", "кнр"]),
    ("#korea", &["korea", "korean", "koreans", "кндр", "коре"]),
    ("#iran", &["iran", "iranian", "iranians", "иран"]),
    ("#israel", &["israel", "israeli", "israelis", "израил"]),
    ("#turkey", &["turkey", "turkish", "türkiye", "турци", "турецк"]),
    ("#britain", &["britain", "british", "uk", "британ"]),
];

/// English words of [`CONCEPTS`] to their group.
static ENGLISH_CONCEPTS: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    CONCEPTS
        .iter()
        .flat_map(|(name, words)| {
            words.iter().filter(|word| !is_cyrillic(word)).map(move |word| (*word, *name))
        })
        .collect()
});

/// The group a word belongs to, if any (see [`CONCEPTS`]).
fn concept(lower: &str) -> Option<&'static str> {
    if !is_cyrillic(lower) {
        return ENGLISH_CONCEPTS.get(lower).copied();
    }
    CONCEPTS
        .iter()
        .find(|(_, words)| words.iter().any(|word| is_cyrillic(word) && lower.starts_with(word)))
        .map(|(name, _)| *name)
}

static STOPWORD_SET: LazyLock<std::collections::HashSet<&'static str>> =
    LazyLock::new(|| STOPWORDS.iter().copied().collect());
static NOT_ACTOR_SET: LazyLock<std::collections::HashSet<&'static str>> =
    LazyLock::new(|| NOT_ACTORS.iter().copied().collect());

/// Splits text into words: letters and digits; "U.S." is one word ("us"), a possessive `'s`
/// is dropped, hyphens split. Marks capitalised words and sentence openers.
fn split_words(text: &str, in_title: bool, out: &mut Vec<Word>) {
    let mut sentence_start = true;
    let mut chars = text.char_indices().peekable();
    let mut current = String::new();
    let mut capitalised = false;
    let mut current_start = true;
    let flush = |current: &mut String, capitalised: bool, start: bool, out: &mut Vec<Word>| {
        if !current.is_empty() {
            out.push(Word { lower: std::mem::take(current), capitalised, sentence_start: start, in_title });
        }
    };
    while let Some((_, character)) = chars.next() {
        if character.is_alphanumeric() {
            if current.is_empty() {
                capitalised = character.is_uppercase();
                current_start = sentence_start;
                sentence_start = false;
            }
            for lower in character.to_lowercase() {
                current.push(if lower == 'ё' { 'е' } else { lower });
            }
            continue;
        }
        match character {
            // "U.S." / "U.K.": a dot between single letters joins them.
            '.' if current.chars().count() == 1
                && chars.peek().is_some_and(|(_, next)| next.is_alphabetic()) => {}
            '\'' | '’' => {
                // A possessive or a contraction: drop the rest of the word ("Russia's").
                flush(&mut current, capitalised, current_start, out);
                while chars.peek().is_some_and(|(_, next)| next.is_alphanumeric()) {
                    chars.next();
                }
            }
            _ => {
                // The dot ending "U.S." or "U.N." does not end a sentence.
                let joined_abbreviation =
                    character == '.' && matches!(current.as_str(), "us" | "un" | "uk" | "eu");
                flush(&mut current, capitalised, current_start, out);
                if matches!(character, '.' | '!' | '?' | '\n' | ':' | '|' | '—' | '–') && !joined_abbreviation
                {
                    sentence_start = true;
                }
            }
        }
    }
    flush(&mut current, capitalised, current_start, out);
}

/// Whether most words of a headline are capitalised (Title Case): then capitals say nothing.
fn is_title_case(words: &[Word]) -> bool {
    let long: Vec<&Word> = words.iter().filter(|word| word.lower.chars().count() > 3).collect();
    if long.len() < 3 {
        return false;
    }
    let capitalised = long.iter().filter(|word| word.capitalised).count();
    capitalised * 10 >= long.len() * 7
}

/// Whether `needle` occurs in `haystack` as whole words (both lower case, words joined by one
/// space, padded with spaces).
fn has_phrase(haystack: &str, needle: &str) -> bool {
    haystack.contains(&format!(" {needle} "))
}

/// Whether any word of `haystack` starts with `prefix` (for Russian stems and inflections).
fn has_prefix(haystack: &str, prefix: &str) -> bool {
    haystack.contains(&format!(" {prefix}"))
}

fn any_marker(haystack: &str, markers: &[&str]) -> bool {
    markers.iter().any(|marker| {
        if is_cyrillic(marker) { has_prefix(haystack, marker) } else { has_phrase(haystack, marker) }
    })
}

/// The canonical form of an item's link, used to see the same article served twice.
pub fn canonical_url(link: &str) -> Option<String> {
    let url = Url::parse(link.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.trim_start_matches("www.").to_ascii_lowercase();
    let mut path = url.path().trim_end_matches('/').to_string();
    if path.ends_with("/index.html") || path.ends_with("/amp") {
        path.truncate(path.rfind('/').unwrap_or(0));
    }
    let mut query: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(key, _)| {
            let key = key.to_ascii_lowercase();
            !key.starts_with("utm_")
                && !matches!(
                    key.as_str(),
                    "fbclid"
                        | "gclid"
                        | "dclid"
                        | "msclkid"
                        | "mc_cid"
                        | "mc_eid"
                        | "yclid"
                        | "igshid"
                        | "ref"
                        | "cmpid"
                        | "ocid"
                        | "smid"
                        | "rss"
                        | "from"
                )
        })
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    query.sort();
    let mut canonical = format!("{host}{path}");
    if !query.is_empty() {
        canonical.push('?');
        let pairs: Vec<String> = query.iter().map(|(key, value)| format!("{key}={value}")).collect();
        canonical.push_str(&pairs.join("&"));
    }
    Some(canonical)
}

/// Builds the fingerprint of an item from its headline, text and link.
pub fn fingerprint(title: &str, text: &str, url: Option<&str>) -> Fingerprint {
    let mut words = Vec::with_capacity(64);
    split_words(title, true, &mut words);
    let title_words = words.len();
    let title_case = is_title_case(&words);
    let mut body_words = Vec::with_capacity(256);
    split_words(text, false, &mut body_words);
    body_words.truncate(MAX_BODY_WORDS);
    let cyrillic = words.iter().chain(&body_words).filter(|word| is_cyrillic(&word.lower)).count();
    let lang = if cyrillic * 2 > words.len() + body_words.len() { Lang::Russian } else { Lang::English };

    // Body shingles over the unstemmed words: near-copies share wording, not only stems.
    let body_hashes: Vec<u64> = body_words.iter().map(|word| stable_hash(word.lower.as_bytes())).collect();
    let mut shingles: Vec<u64> = body_hashes
        .windows(SHINGLE_WORDS)
        .map(|window| window.iter().fold(0u64, |acc, hash| mix(acc.rotate_left(21) ^ hash)))
        .collect();
    shingles.sort_unstable();
    shingles.dedup();

    // The headline and lead: where the event's kind, time and place are stated.
    let lead_end = body_words.len().min(LEAD_WORDS);
    let headline = |from: &[Word]| {
        let mut joined = String::from(" ");
        for word in from {
            joined.push_str(&word.lower);
            joined.push(' ');
        }
        joined
    };
    let head_text =
        if title_words > 0 { headline(&words) } else { headline(&body_words[..lead_end.min(30)]) };
    let lead_text = format!("{}{}", head_text, headline(&body_words[..lead_end]));

    let planned = any_marker(&head_text, PLANNED);
    let happened = any_marker(&head_text, HAPPENED);
    // "To meet" contains "meet": a planning word decides.
    let mode = match (planned, happened) {
        (true, _) => Mode::Planned,
        (false, true) => Mode::Happened,
        (false, false) => Mode::Unknown,
    };
    // The kind of contact: from the headline, or the first sentence when the headline is silent.
    let first_sentence_end = body_words
        .iter()
        .skip(1)
        .position(|word| word.sentence_start)
        .map_or(lead_end, |at| (at + 1).min(lead_end));
    let kind_text = format!("{head_text}{}", headline(&body_words[..first_sentence_end]));
    let headline_kind = (any_marker(&head_text, CALL_WORDS), any_marker(&head_text, MEETING_WORDS));
    let (call, meeting) = if headline_kind == (false, false) {
        (any_marker(&kind_text, CALL_WORDS), any_marker(&kind_text, MEETING_WORDS))
    } else {
        headline_kind
    };
    let predicate = match (call, meeting) {
        (true, false) => Predicate::Call,
        (false, true) => Predicate::Meeting,
        _ => Predicate::Unknown,
    };
    let repeat = any_marker(&head_text, REPEAT_WORDS);
    let mut venues: Vec<u64> = VENUES
        .iter()
        .filter(|(_, names)| {
            names.iter().any(|name| has_prefix(&lead_text, name) || has_phrase(&lead_text, name))
        })
        .map(|(id, _)| stable_hash(id.as_bytes()))
        .collect();
    venues.sort_unstable();
    venues.dedup();
    let days = event_days(&words, &body_words[..lead_end]);

    // Terms and actors.
    let mut terms: HashMap<u64, f32> = HashMap::with_capacity(128);
    let mut actors: HashMap<u64, (u32, usize)> = HashMap::new();
    let mut doubtful: HashMap<u64, (u32, usize)> = HashMap::new();
    let mut written_lower: std::collections::HashSet<u64> = std::collections::HashSet::new();
    let mut headline_terms: Vec<u64> = Vec::new();
    // Without a title, the first sentence stands for the headline (as for mode and predicate).
    let headline_words = if title_words > 0 { title_words } else { first_sentence_end.min(30) };
    for (position, word) in words.iter().chain(&body_words).enumerate() {
        if STOPWORD_SET.contains(word.lower.as_str()) || word.lower.chars().count() < 2 {
            continue;
        }
        let stemmed = match concept(&word.lower) {
            Some(concept) => concept.to_string(),
            None => stem(&word.lower),
        };
        let hash = stable_hash(stemmed.as_bytes());
        *terms.entry(hash).or_default() += if word.in_title { 2.0 } else { 1.0 };
        if position < headline_words {
            headline_terms.push(hash);
        }
        // A capital in a Title Case headline says nothing about a name.
        let capital_of_headline = word.in_title && title_case;
        let could_be_name = word.capitalised
            && !word.lower.chars().all(|c| c.is_ascii_digit())
            && !NOT_ACTOR_SET.contains(word.lower.as_str());
        if could_be_name && !word.sentence_start && !capital_of_headline {
            let entry = actors.entry(hash).or_insert((0, position));
            entry.0 += 1;
        } else if could_be_name {
            let entry = doubtful.entry(hash).or_insert((0, position));
            entry.0 += 1;
        } else if !word.capitalised {
            written_lower.insert(hash);
        }
    }
    // A capital that opened a sentence or sat in a Title Case headline is a name when the item
    // also writes it capitalised inside a sentence, or never writes it in lower case.
    for (hash, (count, first)) in doubtful {
        if actors.contains_key(&hash) || !written_lower.contains(&hash) {
            let entry = actors.entry(hash).or_insert((0, first));
            entry.0 += count;
        }
    }
    headline_terms.sort_unstable();
    headline_terms.dedup();
    let mut terms: Vec<(u64, f32)> =
        terms.into_iter().map(|(hash, count)| (hash, 1.0 + count.ln())).collect();
    terms.sort_unstable_by_key(|(hash, _)| *hash);
    let mut actors: Vec<(u64, u32, usize)> =
        actors.into_iter().map(|(hash, (count, first))| (hash, count, first)).collect();
    actors.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    let actors = actors.into_iter().map(|(hash, count, _)| (hash, count)).collect();

    Fingerprint {
        url: url.and_then(canonical_url),
        terms,
        headline: headline_terms,
        actors,
        venues,
        days,
        mode,
        predicate,
        repeat,
        shingles: u32::try_from(shingles.len()).unwrap_or(u32::MAX),
        minhash: minhash(&shingles),
        lang,
    }
}

/// Weekdays ("on Friday", "в пятницу") and dates ("June 28", "28 июня") in the headline and
/// lead: the day the event is said to happen.
fn event_days(title: &[Word], lead: &[Word]) -> Vec<u16> {
    let all: Vec<&Word> = title.iter().chain(lead).collect();
    let mut days = Vec::new();
    for (index, word) in all.iter().enumerate() {
        if let Some((_, day)) = WEEKDAYS.iter().find(|(name, _)| word.lower.starts_with(name)) {
            days.push(*day);
            continue;
        }
        if let Some((_, month)) = MONTHS.iter().find(|(name, _)| word.lower == *name) {
            let number = |at: Option<&&Word>| {
                at.and_then(|word| word.lower.parse::<u16>().ok()).filter(|n| (1..=31).contains(n))
            };
            let day = number(all.get(index + 1))
                .or_else(|| index.checked_sub(1).and_then(|before| number(all.get(before))));
            if let Some(day) = day {
                days.push(month * 100 + day);
            }
        }
    }
    days.sort_unstable();
    days.dedup();
    days
}
