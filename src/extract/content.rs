//! Main-text selection by content scoring over the flattened page.
//!
//! Every text run belongs to its nearest block element. A block whose own text is long enough and
//! not mostly link text is a paragraph and scores its non-link characters (Han, kana and Hangul
//! weigh more per character, so the threshold holds in every script); cells of a data table score
//! the same way; any other block scores minus its characters (navigation, link lists, buttons,
//! one-word labels). Boilerplate elements (by tag: `nav`, `aside`, `footer`, ...; by class/id/role
//! words: share bars, cookie banners, bylines, ...) score minus their whole text. Sidetracks -
//! comment threads, galleries and slide shows, recommendation streams, and sections opened by a
//! "More from ..." / "Related" heading or by a short label block reading the same - are
//! boilerplate however long they are and cost only their links. Class words are evidence only
//! when they name a role: a section whose class is its own heading as a slug is judged by that
//! heading, and inside a marked article body a `<header>` holding a paragraph is the standfirst. Each element's score is the sum over its subtree, and the element with the highest sum
//! is the article container: it holds as many paragraphs and as little boilerplate as any subtree
//! can. Below it, siblings of the story's branch that change character (much more link-dense, or
//! runs of teaser cards) are cut off; beside it, sibling sections of the same kind are added. The
//! text is then written out, leaving out boilerplate subtrees, link lists, the title heading and
//! captions. Linear in the page size. No I/O.

use super::dom::{Dom, Hint, Tag};

/// Own text (non-space characters, links excluded) a block needs to count as a paragraph.
const MIN_PARAGRAPH_CHARS: u32 = 40;
/// How much a character of non-paragraph text costs, relative to paragraph text earning one.
const NON_PARAGRAPH_COST: f64 = 0.6;
/// How much a link character inside a paragraph costs.
const LINK_COST: f64 = 1.0;
/// How much a character inside a boilerplate element costs.
const BOILERPLATE_COST: f64 = 1.0;
/// A boilerplate-looking element holding this share of all paragraph text is the page's main
/// wrapper (ASP.NET pages wrap everything in a `<form>`), not boilerplate.
const WRAPPER_SHARE: f64 = 0.6;
/// Lists, tables and blocks whose text is more than this share of link text are link lists.
const MAX_LINK_SHARE: f64 = 0.5;

/// The chosen text.
#[derive(Debug, Default)]
pub(crate) struct Extracted {
    /// Paragraphs separated by blank lines.
    pub(crate) text: String,
    /// The container is (or is inside) `<article>`, `itemprop=articleBody` or a class that says so.
    pub(crate) semantic: bool,
    /// Text of the heading taken as the article title (usually the first `<h1>`).
    pub(crate) h1: Option<String>,
}

/// Per-node scores.
struct Scores {
    /// Non-space characters in the subtree.
    chars: Vec<u32>,
    /// ... of which inside links.
    link_chars: Vec<u32>,
    /// Paragraph characters in the subtree.
    good: Vec<f64>,
    /// Subtree holds an element hinted as content.
    has_content_hint: Vec<bool>,
    /// Subtree score.
    total: Vec<f64>,
    /// Decided boilerplate.
    boilerplate: Vec<bool>,
    /// The nearest block element (the node itself for a block).
    block_of: Vec<u32>,
    /// An inline cluster of links inside a paragraph, left out of its text and counts.
    cluster: Vec<bool>,
}

/// An inline element with at least this many links ...
const MIN_CLUSTER_LINKS: u32 = 3;
/// ... and this many characters ...
const MIN_CLUSTER_CHARS: u32 = 80;
/// ... of which this share is link text is a cluster of links, not words of a sentence.
const CLUSTER_LINK_SHARE: f64 = 0.9;

/// Headings that introduce boilerplate ("Most read", "Related", "Leave a Reply", ...), lower case;
/// a heading matches when it contains one and is short.
const BOILERPLATE_HEADINGS: &[&str] = &[
    "most read",
    "most popular",
    "most viewed",
    "most shared",
    "popular",
    "related",
    "recommended",
    "you may also like",
    "you might also like",
    "you may like",
    "more from",
    "more stories",
    "more news",
    "read more",
    "read next",
    "also read",
    "see also",
    "trending",
    "latest news",
    "latest stories",
    "top stories",
    "comments",
    "leave a reply",
    "leave a comment",
    "share this",
    "follow us",
    "sign up",
    "newsletter",
    "advertisement",
    "sponsored",
    "about the author",
    "editor's picks",
    "editors' picks",
    "самые популярные",
    "читайте также",
    "похожие",
    "популярное",
    "комментари",
    "relacionad",
    "leia também",
    "mais lidas",
    "veja também",
    "comentários",
    "correlati",
    "più letti",
    "leggi anche",
    "commenti",
    "weitere artikel",
    "meistgelesen",
    "kommentare",
    "à lire aussi",
    "les plus lus",
];
/// Share of the container's paragraph text that may precede the title heading for the output to
/// start at the title.
const MAX_GOOD_BEFORE_TITLE: f64 = 0.5;
/// How many (empty) nodes may precede a heading that opens its parent element.
const MAX_NODES_BEFORE_HEADING: usize = 32;
/// Longest heading (in characters) checked against [`BOILERPLATE_HEADINGS`].
const MAX_BOILERPLATE_HEADING_CHARS: usize = 60;

/// A data table has at least this many rows ...
const MIN_DATA_TABLE_ROWS: u32 = 3;
/// ... and on average at least this many cells a row.
const MIN_DATA_TABLE_COLUMNS: u32 = 2;

/// Which `<table>` each node is in, and the shape of each table: a table of rows of cells with
/// no table inside is data (standings, results, a schedule); nested tables are page layout.
struct Tables {
    /// Nearest enclosing `<table>` (the node itself for a table), or `u32::MAX`.
    table_of: Vec<u32>,
    rows: Vec<u32>,
    cells: Vec<u32>,
    nested: Vec<bool>,
}

impl Tables {
    fn new(count: usize) -> Self {
        Tables {
            table_of: vec![u32::MAX; count],
            rows: vec![0; count],
            cells: vec![0; count],
            nested: vec![false; count],
        }
    }

    /// Records node `index`; parents are visited before children (pre-order).
    fn visit(&mut self, dom: &Dom<'_>, index: usize) {
        let node = &dom.nodes[index];
        let outer = if node.parent == u32::MAX { u32::MAX } else { self.table_of[node.parent as usize] };
        if node.name == "table" {
            self.table_of[index] = index as u32;
            if outer != u32::MAX {
                self.nested[outer as usize] = true;
            }
            return;
        }
        self.table_of[index] = outer;
        if outer != u32::MAX {
            match node.name {
                "tr" => self.rows[outer as usize] += 1,
                "td" | "th" => self.cells[outer as usize] += 1,
                _ => {}
            }
        }
    }

    fn is_data_cell(&self, index: usize) -> bool {
        let table = self.table_of[index];
        table != u32::MAX && {
            let table = table as usize;
            self.rows[table] >= MIN_DATA_TABLE_ROWS
                && self.cells[table] >= self.rows[table] * MIN_DATA_TABLE_COLUMNS
                && !self.nested[table]
        }
    }
}

/// Headings that open a section of boilerplate running until the next heading of their rank
/// ("More from Opinion", "Related stories", "Comments (12)"): [`BOILERPLATE_HEADINGS`] without
/// the labels of single boxes (advertisement, newsletter, share), matched at the start only.
const SECTION_HEADINGS: &[&str] = &[
    "most read",
    "most popular",
    "most viewed",
    "most shared",
    "popular",
    "related",
    "recommended",
    "you may also like",
    "you might also like",
    "you may like",
    "more from",
    "more stories",
    "more news",
    "more on",
    "read more",
    "read next",
    "also read",
    "see also",
    "trending",
    "latest news",
    "latest stories",
    "top stories",
    "comments",
    "leave a reply",
    "leave a comment",
    "editor's picks",
    "editors' picks",
    "tags",
    "tagged",
    "filed under",
    "самые популярные",
    "читайте также",
    "похожие",
    "популярное",
    "комментари",
    "relacionad",
    "leia também",
    "mais lidas",
    "veja também",
    "comentários",
    "correlati",
    "più letti",
    "leggi anche",
    "commenti",
    "weitere artikel",
    "meistgelesen",
    "kommentare",
    "à lire aussi",
    "les plus lus",
];

/// Last words of a "More ... Stories" heading.
const MORE_OF_WHAT: &[&str] = &["stories", "news", "articles", "coverage", "videos", "reads", "headlines"];

/// Words after a count that title a comment thread ("6 thoughts on", "12 Comments").
const REPLY_COUNT_WORDS: &[&str] = &[
    "comments",
    "comment",
    "responses",
    "response",
    "replies",
    "reply",
    "thoughts on",
    "thought on",
    "comentários",
    "comentarios",
    "commenti",
    "kommentare",
    "commentaires",
    "комментари",
];

/// Whether a heading starts with one of the [`SECTION_HEADINGS`] as whole words, or with a count
/// of replies.
fn section_heading(text: &str) -> bool {
    if text.chars().count() > MAX_BOILERPLATE_HEADING_CHARS {
        return false;
    }
    let lower = text.trim_start_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
    // "More Great WIRED Stories", "More Politics News": more of the site's stories.
    if let Some(rest) = lower.strip_prefix("more ")
        && MORE_OF_WHAT
            .iter()
            .any(|what| rest.trim_end_matches(|c: char| !c.is_alphanumeric()).ends_with(what))
    {
        return true;
    }
    // "12 Comments", "3 Responses to ...", "6 thoughts on ...": a count of replies opens a thread.
    let after_count = lower.trim_start_matches(|c: char| c.is_ascii_digit());
    if after_count.len() < lower.len()
        && let Some(rest) = after_count.strip_prefix(' ')
        && REPLY_COUNT_WORDS.iter().any(|word| {
            // "комментари" is a stem (комментариев, комментария); the others are words.
            rest.strip_prefix(word)
                .is_some_and(|after| word.ends_with('и') || !after.starts_with(char::is_alphanumeric))
        })
    {
        return true;
    }
    SECTION_HEADINGS.iter().any(|phrase| {
        lower.strip_prefix(phrase).is_some_and(|rest| {
            // Stems ("комментари", "relacionad") may continue with letters; words may not.
            phrase.ends_with(['и', 'd']) || !rest.starts_with(char::is_alphanumeric)
        })
    })
}

/// Sections titled by a label that is not a heading element ("<div class=heading-h3>More Great
/// WIRED Stories</div><ul>...", "<p><strong>Related</strong></p>"): a short block of plain text
/// that reads as a [`section_heading`] and the list or link-dense block right after it are a
/// sidetrack. Only the next block: without a heading rank there is no telling where a longer
/// section would end.
fn mark_label_sections(
    dom: &Dom<'_>,
    scores: &Scores,
    own_chars: &[u32],
    headed_boilerplate: &mut [bool],
    headed_sidetrack: &mut [bool],
) {
    let nodes = &dom.nodes;
    for (index, node) in nodes.iter().enumerate() {
        let chars = scores.chars[index];
        if !matches!(node.tag, Tag::Block | Tag::P)
            || chars == 0
            || chars as usize > MAX_BOILERPLATE_HEADING_CHARS
            || own_chars[index] != chars
            || scores.link_chars[index] != 0
            || node.parent == u32::MAX
        {
            continue;
        }
        let parent_end = nodes[node.parent as usize].end as usize;
        let mut next = node.end as usize;
        while next < parent_end && scores.chars[next] == 0 {
            next = nodes[next].end as usize;
        }
        if next >= parent_end || nodes[next].tag == Tag::Text {
            continue;
        }
        let link_share = f64::from(scores.link_chars[next]) / f64::from(scores.chars[next].max(1));
        let list_like = matches!(nodes[next].tag, Tag::List | Tag::Table) || link_share >= SIDE_LINK_SHARE;
        if list_like && section_heading(&subtree_text(dom, index)) {
            for section in [index, next] {
                headed_boilerplate[section] = true;
                headed_sidetrack[section] = true;
            }
        }
    }
}

/// Whether the class (or id) of `index` is its own first heading made into a slug: documentation
/// and long reads name each section after its title ("<section class=bigtable-a-tale-of-over-
/// alerting><h2>Bigtable: A Tale of Over-Alerting"), so the words say what the section is about,
/// not what role it plays; its heading is judged instead (see [`section_heading`]). At least two
/// of the label's words must be heading words and make up half of the label.
fn named_after_its_heading(dom: &Dom<'_>, scores: &Scores, index: usize) -> bool {
    let nodes = &dom.nodes;
    let end = nodes[index].end as usize;
    // The first element holding text, going down from `index`.
    let mut first = index + 1;
    while first < end && !matches!(nodes[first].tag, Tag::H1 | Tag::Heading) {
        if scores.chars[first] == 0 {
            first = nodes[first].end as usize;
        } else if nodes[first].tag == Tag::Text {
            return false;
        } else {
            first += 1;
        }
    }
    if first >= end {
        return false;
    }
    let heading = subtree_text(dom, first).to_lowercase();
    let heading_words: Vec<&str> =
        heading.split(|c: char| !c.is_alphanumeric()).filter(|word| !word.is_empty()).collect();
    let label = nodes[index].label.to_ascii_lowercase();
    let label_words: Vec<&str> =
        label.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let common = label_words.iter().filter(|word| heading_words.contains(word)).count();
    common >= 2 && common * 2 >= label_words.len()
}

/// 1 for `<h1>` ... 6 for `<h6>`.
fn heading_rank(name: &str) -> u8 {
    name.as_bytes().get(1).map_or(6, |digit| digit.saturating_sub(b'0'))
}

fn is_boilerplate_heading(text: &str) -> bool {
    if text.chars().count() > MAX_BOILERPLATE_HEADING_CHARS {
        return false;
    }
    let lower = text.to_lowercase();
    BOILERPLATE_HEADINGS.iter().any(|phrase| lower.contains(phrase))
}

/// Loose title comparison on lower-case words: most of the heading's words are in the title and
/// they make up at least half of it (the title may carry a site name).
fn matches_title(heading: &str, title: &str) -> bool {
    let words = |text: &str| -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let heading = words(heading);
    let title = words(title);
    if heading.len() < 2 || title.is_empty() {
        return false;
    }
    let common = heading.iter().filter(|word| title.contains(word)).count();
    common * 5 >= heading.len() * 4 && common * 2 >= title.len()
}

/// Picks the article container and writes out its text. `title_hint` (OpenGraph or `<title>`)
/// identifies the title heading, which is left out, and before which nothing is article text.
pub(crate) fn extract(dom: &Dom<'_>, title_hint: Option<&str>, explain: Option<&mut String>) -> Extracted {
    let nodes = &dom.nodes;
    let count = nodes.len();
    if count == 0 {
        return Extracted::default();
    }
    let mut scores = Scores {
        chars: vec![0; count],
        link_chars: vec![0; count],
        good: vec![0.0; count],
        has_content_hint: vec![false; count],
        total: vec![0.0; count],
        boilerplate: vec![false; count],
        block_of: vec![u32::MAX; count],
        cluster: vec![false; count],
    };
    // Own (direct, not in a nested block) text of each block.
    let mut own_chars = vec![0u32; count];
    let mut own_link_chars = vec![0u32; count];
    let mut headings: Vec<(usize, String)> = Vec::new();
    let mut tables = Tables::new(count);
    for (index, node) in nodes.iter().enumerate() {
        let parent_block =
            if node.parent == u32::MAX { u32::MAX } else { scores.block_of[node.parent as usize] };
        scores.block_of[index] = if node.tag.is_block() { index as u32 } else { parent_block };
        tables.visit(dom, index);
        if node.tag == Tag::Text {
            let chars = text_weight(node.text);
            scores.chars[index] = chars;
            if node.in_link {
                scores.link_chars[index] = chars;
            }
            if parent_block != u32::MAX {
                own_chars[parent_block as usize] += chars;
                if node.in_link {
                    own_link_chars[parent_block as usize] += chars;
                }
            }
        } else if matches!(node.tag, Tag::H1 | Tag::Heading) {
            headings.push((index, subtree_text(dom, index)));
        }
    }
    // The title heading: the first `<h1>` (then any heading) matching the title, else the first
    // `<h1>`.
    let title_node = title_hint
        .and_then(|title| {
            let matching = |tag: Tag| {
                headings.iter().find(|(index, text)| nodes[*index].tag == tag && matches_title(text, title))
            };
            matching(Tag::H1).or_else(|| matching(Tag::Heading))
        })
        .or_else(|| headings.iter().find(|(index, text)| nodes[*index].tag == Tag::H1 && !text.is_empty()))
        .map(|(index, _)| *index);
    let h1 = title_node.map(|index| subtree_text(dom, index));
    // Bottom-up: character counts, paragraph text, content hints.
    let mut value = vec![0.0f64; count];
    let mut links = vec![0u32; count];
    let mut holds_block = vec![false; count];
    for index in (0..count).rev() {
        let node = &nodes[index];
        links[index] += u32::from(node.tag == Tag::A);
        // A cluster of links inside a sentence (a hover card, a "related" strip in a span) is
        // not the sentence's text: its characters leave the paragraph's own count.
        let cluster = node.tag == Tag::Inline
            && !holds_block[index]
            && links[index] >= MIN_CLUSTER_LINKS
            && scores.chars[index] >= MIN_CLUSTER_CHARS
            && f64::from(scores.link_chars[index]) >= f64::from(scores.chars[index]) * CLUSTER_LINK_SHARE
            && scores.block_of[index] != u32::MAX
            && {
                // ... and only inside a sentence: the block keeps a paragraph's worth of plain
                // text without it (a reference list's citation is all links and stays).
                let block = scores.block_of[index] as usize;
                let block_plain = own_chars[block] - own_link_chars[block];
                let cluster_plain = scores.chars[index] - scores.link_chars[index];
                block_plain.saturating_sub(cluster_plain) >= MIN_PARAGRAPH_CHARS
            };
        if cluster {
            let block = scores.block_of[index] as usize;
            own_chars[block] = own_chars[block].saturating_sub(scores.chars[index]);
            own_link_chars[block] = own_link_chars[block].saturating_sub(scores.link_chars[index]);
            scores.cluster[index] = true;
        }
        if node.tag.is_block() && own_chars[index] > 0 {
            let own = own_chars[index];
            let own_link = own_link_chars[index];
            let plain = own - own_link;
            value[index] = if Some(index) == title_node {
                0.0
            } else if plain >= MIN_PARAGRAPH_CHARS && own_link < plain {
                // Paragraph text earns, link text inside it costs.
                f64::from(plain) - f64::from(own_link) * LINK_COST
            } else if node.tag == Tag::Cell && tables.is_data_cell(index) && own_link < plain {
                // Standings, results, schedules: short cells of a data table are content.
                f64::from(plain) - f64::from(own_link) * LINK_COST
            } else if node.tag == Tag::Heading && own_link == 0 {
                0.0
            } else {
                -f64::from(own) * NON_PARAGRAPH_COST
            };
            scores.good[index] += value[index].max(0.0);
        }
        // `<article>` alone is no evidence here: sites mark teaser cards in sidebars as articles.
        scores.has_content_hint[index] |= node.hint == Hint::Content;
        if node.parent != u32::MAX {
            let parent = node.parent as usize;
            if !cluster {
                scores.chars[parent] += scores.chars[index];
                scores.link_chars[parent] += scores.link_chars[index];
                links[parent] += links[index];
            }
            holds_block[parent] |= holds_block[index] || node.tag.is_block();
            scores.good[parent] += scores.good[index];
            scores.has_content_hint[parent] |= scores.has_content_hint[index];
        }
    }
    // An element introduced by a boilerplate heading is boilerplate.
    let mut headed_boilerplate = vec![false; count];
    // ... and one introduced by a section heading is a sidetrack (like comments or galleries).
    let mut headed_sidetrack = vec![false; count];
    for (index, text) in &headings {
        if Some(*index) == title_node || !(is_boilerplate_heading(text) || section_heading(text)) {
            continue;
        }
        // A section title is often wrapped ("<div class=hd><h2>More stories</h2></div>"): the
        // wrapper holding only the heading stands for it.
        let strict = section_heading(text);
        let mut heading = *index;
        while strict
            && nodes[heading].parent != u32::MAX
            && scores.chars[nodes[heading].parent as usize] == scores.chars[heading]
        {
            heading = nodes[heading].parent as usize;
        }
        let parent = nodes[heading].parent;
        if parent == u32::MAX {
            continue;
        }
        // The heading opens its parent ("<aside><h2>Most read</h2><ul>..."): the parent is the
        // boilerplate section.
        let first = parent as usize + 1;
        let opens_parent = heading - first <= MAX_NODES_BEFORE_HEADING
            && (first..heading).all(|before| scores.chars[before] == 0);
        if opens_parent {
            headed_boilerplate[parent as usize] = true;
            headed_sidetrack[parent as usize] = strict;
            continue;
        }
        headed_boilerplate[heading] = true;
        headed_sidetrack[heading] = strict;
        if !strict {
            // A heading such as "Comments" in the middle of a wrapper: only the heading.
            continue;
        }
        // "More from Opinion" in the middle of a wrapper: the section runs over the following
        // siblings up to the next heading of the same or a higher rank.
        let rank = heading_rank(nodes[*index].name);
        let mut sibling = nodes[heading].end as usize;
        while sibling < nodes[parent as usize].end as usize {
            let node = &nodes[sibling];
            if matches!(node.tag, Tag::H1 | Tag::Heading) && heading_rank(node.name) <= rank {
                break;
            }
            headed_boilerplate[sibling] = true;
            headed_sidetrack[sibling] = true;
            sibling = node.end as usize;
        }
    }
    mark_label_sections(dom, &scores, &own_chars, &mut headed_boilerplate, &mut headed_sidetrack);
    let all_good: f64 = (0..count).filter(|&i| nodes[i].parent == u32::MAX).map(|i| scores.good[i]).sum();
    // Inside an element marked as the article body (`itemprop=articleBody`, `article-body`), a
    // `<header>` or `<footer>` holding a paragraph is the story's standfirst or last words: the
    // markup already said this is the body.
    let mut in_body = vec![false; count];
    for index in 0..count {
        let parent = nodes[index].parent;
        in_body[index] =
            parent != u32::MAX && (in_body[parent as usize] || nodes[parent as usize].hint == Hint::Content);
    }
    // Bottom-up again: subtree totals with boilerplate decided.
    for index in (0..count).rev() {
        let node = &nodes[index];
        let body_part = in_body[index]
            && matches!(node.name, "header" | "footer")
            && node.hint == Hint::Neutral
            && scores.good[index] > 0.0;
        let looks_boilerplate = (node.tag == Tag::Boilerplate && !body_part)
            || (node.hint.is_boilerplate() && !named_after_its_heading(dom, &scores, index))
            || headed_boilerplate[index];
        // A comment thread or a gallery longer than the article it follows is still boilerplate:
        // such a section is a wrapper only when it holds the title too.
        let holds_title = title_node.is_none_or(|title| title >= index && title < node.end as usize);
        let sidetrack = node.hint == Hint::Sidetrack || headed_sidetrack[index];
        let wrapper = scores.good[index] >= all_good * WRAPPER_SHARE && (!sidetrack || holds_title);
        scores.boilerplate[index] = looks_boilerplate && !scores.has_content_hint[index] && !wrapper;
        scores.total[index] += value[index];
        if node.parent != u32::MAX {
            let contribution = if scores.boilerplate[index] && sidetrack {
                // A sidetrack costs only its links: a long gallery or comment thread inside the
                // story must not sink it, yet a container is no better for holding one.
                -f64::from(scores.link_chars[index]) * BOILERPLATE_COST
            } else if scores.boilerplate[index] {
                -f64::from(scores.chars[index]) * BOILERPLATE_COST
            } else {
                scores.total[index]
            };
            scores.total[node.parent as usize] += contribution;
        }
    }
    // Nothing inside a boilerplate element can be the container.
    let mut inside_boilerplate = vec![false; count];
    for index in 0..count {
        let parent = nodes[index].parent;
        inside_boilerplate[index] =
            scores.boilerplate[index] || (parent != u32::MAX && inside_boilerplate[parent as usize]);
    }
    let best = (0..count)
        .filter(|&i| nodes[i].tag != Tag::Text && !inside_boilerplate[i])
        .max_by(|&a, &b| scores.total[a].total_cmp(&scores.total[b]).then(b.cmp(&a)));
    // A body of short paragraphs (a one-line brief) scores nothing; a semantic container
    // (`<article>`, `itemprop=articleBody`, an article-body class) still says where it is.
    let container = best.filter(|&i| scores.total[i] > 0.0).or_else(|| {
        (0..count)
            .filter(|&i| {
                (nodes[i].semantic || nodes[i].hint == Hint::Content)
                    && !inside_boilerplate[i]
                    && scores.chars[i] > scores.link_chars[i]
            })
            .max_by_key(|&i| (scores.chars[i] - scores.link_chars[i], std::cmp::Reverse(i)))
    });
    let Some(container) = container else {
        return Extracted { h1, ..Extracted::default() };
    };
    drop_changes_of_character(dom, &mut scores, container);
    let semantic = {
        let mut node = container as u32;
        let mut found = false;
        for _ in 0..4 {
            if node == u32::MAX {
                break;
            }
            let current = &nodes[node as usize];
            found |= current.semantic || current.hint == Hint::Content;
            node = current.parent;
        }
        found
    };
    if let Some(out) = explain {
        write_explanation(out, dom, &scores, container, title_node);
    }
    let mut parts = Vec::new();
    for root in with_sibling_sections(dom, &scores, container) {
        let part = write_text(dom, &scores, &value, root, title_node);
        if !part.is_empty() {
            parts.push(part);
        }
    }
    Extracted { text: parts.join("\n\n"), semantic, h1 }
}

/// A sibling of the container scoring at least this share of the container's total is another
/// section of the same text ...
const SIBLING_SECTION_SHARE: f64 = 0.2;
/// ... unless its share of link text exceeds the container's by this factor (and is at least
/// [`SIDE_LINK_SHARE`]).
const SIBLING_LINK_RATIO: f64 = 1.5;

/// The container and, in document order, its siblings that continue the same text: pages
/// split into sections (documentation, long reads) put each in its own element, and the best
/// one alone is only part of the page. A sibling qualifies when it scores above zero and either
/// a good share of the container's total or is the same element with the same class (another
/// `div.section`), is not boilerplate and is not much more link-dense.
fn with_sibling_sections(dom: &Dom<'_>, scores: &Scores, container: usize) -> Vec<usize> {
    let parent = dom.nodes[container].parent;
    if parent == u32::MAX {
        return vec![container];
    }
    let link_share =
        |index: usize| f64::from(scores.link_chars[index]) / f64::from(scores.chars[index].max(1));
    let max_link_share = (link_share(container) * SIBLING_LINK_RATIO).max(SIDE_LINK_SHARE);
    children(dom, parent as usize)
        .into_iter()
        .filter(|&child| {
            child == container
                || (dom.nodes[child].tag != Tag::Text
                    && !scores.boilerplate[child]
                    && scores.total[child] > 0.0
                    && (scores.total[child] >= scores.total[container] * SIBLING_SECTION_SHARE
                        || same_kind(dom, child, container))
                    && link_share(child) <= max_link_share)
        })
        .collect()
}

/// The length of a text run in Latin-letter equivalents: non-space characters, with Han and kana
/// characters counting three and Hangul syllables two (a Chinese or Japanese sentence carries
/// as much as an English one about three times as long), so paragraph thresholds hold in every
/// script.
fn text_weight(text: &str) -> u32 {
    let mut weight = 0u32;
    for c in text.chars() {
        weight += match c {
            c if c.is_ascii() => u32::from(!c.is_ascii_whitespace()),
            '\u{3040}'..='\u{30FF}'
            | '\u{3400}'..='\u{4DBF}'
            | '\u{4E00}'..='\u{9FFF}'
            | '\u{F900}'..='\u{FAFF}' => 3,
            '\u{AC00}'..='\u{D7AF}' => 2,
            c => u32::from(!c.is_whitespace()),
        };
    }
    weight
}

/// The child holding this share of its parent's paragraph text is the story's branch.
const DOMINANT_SHARE: f64 = 0.5;
/// A sibling of the story's branch whose text is at least this share links ...
const SIDE_LINK_SHARE: f64 = 0.3;
/// ... and this many times the branch's share is a stream of teasers, a ticker or a link box.
const SIDE_LINK_RATIO: f64 = 2.0;
/// Teaser cards: at least this many siblings of one kind, each with a link ...
const MIN_TEASERS: usize = 3;
/// ... making up at least this share of each card's text.
const TEASER_LINK_SHARE: f64 = 0.1;
/// An element with this share of its text in teaser cards is a teaser stream.
const TEASER_RUN_SHARE: f64 = 0.6;

/// Where the content changes character next to the story, the story ends: walking down from
/// the container along the child that holds most of the paragraph text (the story's branch),
/// siblings that are much more link-dense than the branch (a "latest news" ticker, a deal
/// box) or that are runs of teaser cards (same element and class, each with its link) are
/// marked boilerplate, so they are left out of the text.
fn drop_changes_of_character(dom: &Dom<'_>, scores: &mut Scores, container: usize) {
    let nodes = &dom.nodes;
    let link_share = |scores: &Scores, index: usize| {
        f64::from(scores.link_chars[index]) / f64::from(scores.chars[index].max(1))
    };
    let mut level = container;
    loop {
        let children = children(dom, level);
        let Some(&branch) = children
            .iter()
            .filter(|&&child| !scores.boilerplate[child])
            .max_by(|&&a, &&b| scores.good[a].total_cmp(&scores.good[b]))
        else {
            return;
        };
        if scores.good[branch] <= 0.0 || scores.good[branch] < scores.good[level] * DOMINANT_SHARE {
            return;
        }
        let branch_share = link_share(scores, branch);
        let runs = teaser_runs(dom, scores, &children);
        for (&child, &in_run) in children.iter().zip(&runs) {
            if child == branch || scores.good[child] <= 0.0 || nodes[child].tag == Tag::Text {
                continue;
            }
            let share = link_share(scores, child);
            let link_dense = share >= SIDE_LINK_SHARE && share >= branch_share * SIDE_LINK_RATIO;
            if link_dense || in_run || holds_teaser_run(dom, scores, child) {
                scores.boilerplate[child] = true;
            }
        }
        level = branch;
    }
}

/// The element children of `index` (text nodes included, as they own text too).
fn children(dom: &Dom<'_>, index: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut child = index + 1;
    while child < dom.nodes[index].end as usize {
        out.push(child);
        child = dom.nodes[child].end as usize;
    }
    out
}

/// Same element name and class (or id).
fn same_kind(dom: &Dom<'_>, a: usize, b: usize) -> bool {
    dom.nodes[a].name == dom.nodes[b].name && dom.nodes[a].label == dom.nodes[b].label
}

/// Whether an element is a card with a link ([`TEASER_LINK_SHARE`] of its text at least).
fn is_card(dom: &Dom<'_>, scores: &Scores, index: usize) -> bool {
    dom.nodes[index].tag != Tag::Text
        && scores.link_chars[index] > 0
        && f64::from(scores.link_chars[index]) >= f64::from(scores.chars[index]) * TEASER_LINK_SHARE
}

/// The `siblings` that are cards with at least [`MIN_TEASERS`] - 1 sibling cards of the same
/// element and class. Linear in the number of siblings.
fn teaser_runs(dom: &Dom<'_>, scores: &Scores, siblings: &[usize]) -> Vec<bool> {
    let kind = |index: usize| (dom.nodes[index].name, dom.nodes[index].label);
    let cards: Vec<bool> = siblings.iter().map(|&index| is_card(dom, scores, index)).collect();
    let mut counts: std::collections::HashMap<(&str, &str), usize> = std::collections::HashMap::new();
    for (&index, _) in siblings.iter().zip(&cards).filter(|(_, card)| **card) {
        *counts.entry(kind(index)).or_default() += 1;
    }
    siblings.iter().zip(&cards).map(|(&index, &card)| card && counts[&kind(index)] >= MIN_TEASERS).collect()
}

/// Whether most of the text of `index` is in a run of teaser cards among its children.
fn holds_teaser_run(dom: &Dom<'_>, scores: &Scores, index: usize) -> bool {
    let children = children(dom, index);
    let runs = teaser_runs(dom, scores, &children);
    let in_cards: u32 =
        children.iter().zip(&runs).filter(|(_, run)| **run).map(|(&child, _)| scores.chars[child]).sum();
    f64::from(in_cards) >= f64::from(scores.chars[index]) * TEASER_RUN_SHARE
}

/// Lists the elements holding text with their scores, indented by depth, for diagnostics.
fn write_explanation(
    out: &mut String,
    dom: &Dom<'_>,
    scores: &Scores,
    container: usize,
    title: Option<usize>,
) {
    use std::fmt::Write;
    let nodes = &dom.nodes;
    let mut depth = vec![0usize; nodes.len()];
    for (index, node) in nodes.iter().enumerate() {
        if node.parent != u32::MAX {
            depth[index] = depth[node.parent as usize] + 1;
        }
        let parent_boilerplate = node.parent != u32::MAX && scores.boilerplate[node.parent as usize];
        if node.tag == Tag::Text || scores.chars[index] < 100 || parent_boilerplate {
            continue;
        }
        let first_text = nodes[index..node.end as usize]
            .iter()
            .find(|n| n.tag == Tag::Text && !n.text.trim().is_empty())
            .map_or("", |n| n.text.trim());
        let mark = if index == container {
            "=>"
        } else if Some(index) == title {
            "T "
        } else if scores.boilerplate[index] {
            "x "
        } else {
            "  "
        };
        let _ = writeln!(
            out,
            "{mark}{:indent$}{index} {}.{:.40} {:?}/{:?} chars {} link {} good {:.0} total {:.0} | {:.60}",
            "",
            node.name,
            node.label,
            node.tag,
            node.hint,
            scores.chars[index],
            scores.link_chars[index],
            scores.good[index],
            scores.total[index],
            first_text,
            indent = depth[index].min(60),
        );
    }
}

/// Whether the output leaves out the element at `index`.
fn skip_in_output(
    dom: &Dom<'_>,
    scores: &Scores,
    value: &[f64],
    index: usize,
    title_node: Option<usize>,
) -> bool {
    let node = &dom.nodes[index];
    match node.tag {
        Tag::Text | Tag::Br => false,
        _ if Some(index) == title_node => true,
        Tag::Inline if scores.cluster[index] => true,
        // A link or span inside a paragraph is part of the sentence whatever its class says
        // ("<a class=meta-loc>Sudan</a>"), unless the class hides it from sight.
        Tag::A | Tag::Inline if scores.boilerplate[index] => {
            !in_paragraph(dom, scores, value, index) || stays_out_of_sentences(node.label)
        }
        _ if scores.boilerplate[index] => true,
        Tag::A if node.taxonomy => !in_paragraph(dom, scores, value, index),
        // A heading that is a link ("<h3><a>Rez Infinite ($30)</a></h3>") followed by a
        // paragraph of the story is the title of that part of it.
        Tag::Heading if introduces_prose(dom, scores, value, index) => false,
        // An item of a list that is kept is kept: the list as a whole says whether it is a
        // link list ("Here's our year in review!" in a list of news items is the story). In a
        // link-dense list that still holds a paragraph item, each item speaks for itself.
        Tag::ListItem
            if node.parent != u32::MAX
                && dom.nodes[node.parent as usize].tag == Tag::List
                && !link_dense(scores, node.parent as usize) =>
        {
            false
        }
        Tag::List if link_dense(scores, index) => !holds_paragraph_item(dom, value, index),
        Tag::List
        | Tag::Table
        | Tag::Block
        | Tag::ListItem
        | Tag::P
        | Tag::Heading
        | Tag::Quote
        | Tag::Cell => link_dense(scores, index),
        _ => false,
    }
}

/// More than [`MAX_LINK_SHARE`] of the text at `index` is link text.
fn link_dense(scores: &Scores, index: usize) -> bool {
    let chars = f64::from(scores.chars[index]);
    chars > 0.0 && f64::from(scores.link_chars[index]) > chars * MAX_LINK_SHARE
}

/// Whether one of the items of the list at `index` is itself a paragraph of prose: the list
/// is then part of the story (notes of a changelog, some of them only links), not a link list.
fn holds_paragraph_item(dom: &Dom<'_>, value: &[f64], index: usize) -> bool {
    children(dom, index).into_iter().any(|child| dom.nodes[child].tag == Tag::ListItem && value[child] > 0.0)
}

/// Whether the nearest block around `index` is a paragraph (positive own score).
fn in_paragraph(dom: &Dom<'_>, scores: &Scores, value: &[f64], index: usize) -> bool {
    let parent = dom.nodes[index].parent;
    parent != u32::MAX && {
        let block = scores.block_of[parent as usize];
        block != u32::MAX && value[block as usize] > 0.0
    }
}

/// Class names of inline text that is never part of a sentence even inside a paragraph: text
/// for screen readers only or hidden by style sheets, captions and credits of an inline image.
fn stays_out_of_sentences(label: &str) -> bool {
    let lower = label.to_ascii_lowercase();
    [
        "sr-only",
        "screen-reader",
        "visually-hidden",
        "visuallyhidden",
        "hidden",
        "offscreen",
        "hide",
        "caption",
        "credit",
        "photo",
        "image",
        "figure",
    ]
    .iter()
    .any(|word| lower.contains(word))
}

/// Whether the first element with text after `index`, in the same parent, is a paragraph.
fn introduces_prose(dom: &Dom<'_>, scores: &Scores, value: &[f64], index: usize) -> bool {
    let nodes = &dom.nodes;
    let parent = nodes[index].parent;
    let parent_end = if parent == u32::MAX { nodes.len() } else { nodes[parent as usize].end as usize };
    let mut next = nodes[index].end as usize;
    while next < parent_end {
        let node = &nodes[next];
        if scores.chars[next] == 0 {
            next = node.end as usize;
            continue;
        }
        // The paragraph may be wrapped ("<div><p>..."): look at the first block inside.
        let mut inner = next;
        while inner < node.end as usize && !(nodes[inner].tag.is_block() && value[inner] != 0.0) {
            if nodes[inner].tag == Tag::Text && !nodes[inner].text.trim().is_empty() {
                return false;
            }
            inner += 1;
        }
        return inner < node.end as usize && value[inner] > 0.0;
    }
    false
}

/// Writes the text of `container`, a paragraph per block, starting after the title heading
/// when the container holds it (what comes before it is navigation, tickers and kickers).
fn write_text(
    dom: &Dom<'_>,
    scores: &Scores,
    value: &[f64],
    container: usize,
    title_node: Option<usize>,
) -> String {
    let nodes = &dom.nodes;
    let end = nodes[container].end as usize;
    let mut writer = ParagraphWriter::default();
    let mut open_blocks: Vec<usize> = Vec::new();
    let mut index = container + 1;
    // Start at the title only when little paragraph text comes before it: a title-like heading
    // late in the container is a teaser, not the title.
    let starts_at_title = title_node.filter(|&title| {
        title > container && title < end && {
            let before: f64 = (container..title).map(|index| value[index].max(0.0)).sum();
            before < scores.good[container] * MAX_GOOD_BEFORE_TITLE
        }
    });
    if let Some(title) = starts_at_title {
        let mut ancestors = Vec::new();
        let mut ancestor = nodes[title].parent;
        while ancestor != u32::MAX && ancestor as usize != container {
            ancestors.push(nodes[ancestor as usize].end as usize);
            ancestor = nodes[ancestor as usize].parent;
        }
        open_blocks.extend(ancestors.into_iter().rev());
        index = title;
    }
    while index < end {
        while open_blocks.last().is_some_and(|&block_end| block_end <= index) {
            open_blocks.pop();
            writer.flush();
        }
        let node = &nodes[index];
        if skip_in_output(dom, scores, value, index, title_node) {
            if node.tag.is_block() {
                writer.flush();
            } else {
                writer.space();
            }
            index = node.end as usize;
            continue;
        }
        match node.tag {
            Tag::Text => writer.push(node.text),
            Tag::Br => writer.flush(),
            tag if tag.is_block() => {
                writer.flush();
                open_blocks.push(node.end as usize);
            }
            _ => {}
        }
        index += 1;
    }
    writer.flush();
    trim_edges(&mut writer.paragraphs);
    writer.finish()
}

/// Phrases of the short notes news sites put after the story (lower case): newsletter and
/// social-media calls, contact lines, copyright.
const TRAILING_BOILERPLATE: &[&str] = &[
    "follow us",
    "follow her",
    "follow him",
    "follow ap",
    "follow the",
    "on twitter",
    "on facebook",
    "on instagram",
    "sign up",
    "subscribe",
    "newsletter",
    "click here",
    "all rights reserved",
    "copyright",
    "©",
    "may be reached at",
    "can be reached at",
    "have a tip",
    "read more",
    "related:",
    "download the app",
    "join the conversation",
    "share this",
    "advertisement",
    "terms of use",
    "privacy policy",
    "more great",
    "tell us what you think",
    "leave a comment",
    "comments",
    "comentários",
    "comentarios",
    "commenti",
    "kommentare",
    "commentaires",
    "комментари",
];
/// Whole last lines that label what followed them (a tag or category list, left out as links).
const TRAILING_LABELS: &[&str] =
    &["tags", "tagged", "tagged with", "tagged as", "filed under", "topics", "categories", "category"];
/// Paragraphs longer than this (in characters) are never trimmed as edge boilerplate.
const MAX_EDGE_BOILERPLATE_CHARS: usize = 300;
/// Leading lines this short that carry a date or byline are trimmed.
const MAX_LEADING_META_CHARS: usize = 80;

/// Drops newsletter/social/copyright notes from the end of the text and date or byline lines
/// from its start.
fn trim_edges(paragraphs: &mut Vec<String>) {
    while let Some(last) = paragraphs.last() {
        let lower = last.to_lowercase();
        let label = lower.trim_matches(|c: char| !c.is_alphanumeric());
        if (last.chars().count() <= MAX_EDGE_BOILERPLATE_CHARS
            && TRAILING_BOILERPLATE.iter().any(|phrase| lower.contains(phrase)))
            || TRAILING_LABELS.contains(&label)
            // What is left of a list of links once they are left out: separators only.
            || label.is_empty()
        {
            paragraphs.pop();
        } else {
            break;
        }
    }
    let leading = paragraphs
        .iter()
        .take_while(|paragraph| {
            paragraph.chars().count() <= MAX_LEADING_META_CHARS && is_meta_line(paragraph)
        })
        .count();
    paragraphs.drain(..leading);
}

/// A dateline, byline or "updated" line: starts with such a word, or is mostly digits and
/// date words.
fn is_meta_line(line: &str) -> bool {
    let lower = line.to_lowercase();
    const STARTS: &[&str] =
        &["by ", "updated", "published", "posted", "last updated", "por ", "von ", "par "];
    if STARTS.iter().any(|start| lower.starts_with(start)) {
        return true;
    }
    let digits = line.chars().filter(char::is_ascii_digit).count();
    let letters = line.chars().filter(|c| c.is_alphabetic()).count();
    digits >= 4 && digits * 3 >= letters
}

/// The text of the subtree at `index`, whitespace collapsed.
fn subtree_text(dom: &Dom<'_>, index: usize) -> String {
    let mut writer = ParagraphWriter::default();
    for node in &dom.nodes[index..dom.nodes[index].end as usize] {
        if node.tag == Tag::Text {
            writer.push(node.text);
        } else {
            writer.space();
        }
    }
    writer.flush();
    writer.finish()
}

/// Collects paragraphs, collapsing whitespace inside each.
#[derive(Default)]
struct ParagraphWriter {
    paragraphs: Vec<String>,
    current: String,
    pending_space: bool,
}

impl ParagraphWriter {
    fn push(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_whitespace() {
                self.pending_space = true;
            } else {
                if self.pending_space && !self.current.is_empty() {
                    self.current.push(' ');
                }
                self.pending_space = false;
                self.current.push(c);
            }
        }
    }

    fn space(&mut self) {
        self.pending_space = true;
    }

    fn flush(&mut self) {
        self.pending_space = false;
        if !self.current.is_empty() {
            self.paragraphs.push(std::mem::take(&mut self.current));
        }
    }

    fn finish(self) -> String {
        self.paragraphs.join("\n\n")
    }
}
