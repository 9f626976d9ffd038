//! Main-text selection by content scoring over the flattened page.
//!
//! Every text run belongs to its nearest block element. A block whose own text is long enough and
//! not mostly link text is a paragraph and scores its non-link characters; any other block scores
//! minus its characters (navigation, link lists, buttons, one-word labels). Boilerplate elements
//! (by tag: `nav`, `aside`, `footer`, ...; by class/id/role words: comments, share bars, related
//! links, cookie banners, bylines, ...) score minus their whole text. Each element's score is the
//! sum over its subtree, and the element with the highest sum is the article container: it holds
//! as many paragraphs and as little boilerplate as any subtree can. The text is then written out
//! from that container, leaving out boilerplate subtrees, link-dense lists, the `<h1>` title and
//! captions. Linear in the page size. No I/O.

use super::dom::{Dom, Hint, Tag};

/// Own text (non-space characters, links excluded) a block needs to count as a paragraph.
const MIN_PARAGRAPH_CHARS: u32 = 40;
/// How much a character of non-paragraph text costs, relative to paragraph text earning one.
const NON_PARAGRAPH_COST: f64 = 0.6;
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
    /// First `<h1>` text of the page.
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
}

/// Picks the article container and writes out its text.
pub(crate) fn extract(dom: &Dom<'_>) -> Extracted {
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
    };
    // Own (direct, not in a nested block) text of each block.
    let mut own_chars = vec![0u32; count];
    let mut own_link_chars = vec![0u32; count];
    let mut block_of = vec![u32::MAX; count];
    let mut h1 = None;
    for index in 0..count {
        let node = &nodes[index];
        let parent_block = if node.parent == u32::MAX { u32::MAX } else { block_of[node.parent as usize] };
        block_of[index] = if node.tag.is_block() { index as u32 } else { parent_block };
        if node.tag == Tag::Text {
            let chars = node.text.chars().filter(|c| !c.is_whitespace()).count() as u32;
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
        } else if node.tag == Tag::H1 && h1.is_none() {
            let text = subtree_text(dom, index);
            if !text.is_empty() {
                h1 = Some(text);
            }
        }
    }
    // Bottom-up: character counts, paragraph text, content hints.
    let mut value = vec![0.0f64; count];
    for index in (0..count).rev() {
        let node = &nodes[index];
        if node.tag.is_block() && own_chars[index] > 0 {
            let own = own_chars[index];
            let own_link = own_link_chars[index];
            let plain = own - own_link;
            value[index] = if node.tag == Tag::H1 {
                0.0
            } else if plain >= MIN_PARAGRAPH_CHARS && f64::from(own_link) <= f64::from(own) * 0.35 {
                f64::from(plain)
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
            scores.chars[parent] += scores.chars[index];
            scores.link_chars[parent] += scores.link_chars[index];
            scores.good[parent] += scores.good[index];
            scores.has_content_hint[parent] |= scores.has_content_hint[index];
        }
    }
    let all_good: f64 = (0..count).filter(|&i| nodes[i].parent == u32::MAX).map(|i| scores.good[i]).sum();
    // Bottom-up again: subtree totals with boilerplate decided.
    for index in (0..count).rev() {
        let node = &nodes[index];
        let looks_boilerplate = node.tag == Tag::Boilerplate || node.hint == Hint::Boilerplate;
        scores.boilerplate[index] = looks_boilerplate
            && !scores.has_content_hint[index]
            && scores.good[index] < all_good * WRAPPER_SHARE;
        scores.total[index] += value[index];
        if node.parent != u32::MAX {
            let contribution = if scores.boilerplate[index] {
                -f64::from(scores.chars[index]) * BOILERPLATE_COST
            } else {
                scores.total[index]
            };
            scores.total[node.parent as usize] += contribution;
        }
    }
    let Some(container) = (0..count)
        .filter(|&i| nodes[i].tag != Tag::Text && !scores.boilerplate[i])
        .max_by(|&a, &b| scores.total[a].total_cmp(&scores.total[b]).then(b.cmp(&a)))
    else {
        return Extracted { h1, ..Extracted::default() };
    };
    if scores.total[container] <= 0.0 {
        return Extracted { h1, ..Extracted::default() };
    }
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
    let text = write_text(dom, &scores, container);
    Extracted { text, semantic, h1 }
}

/// Whether the output leaves out the element at `index`.
fn skip_in_output(dom: &Dom<'_>, scores: &Scores, index: usize) -> bool {
    let node = &dom.nodes[index];
    match node.tag {
        Tag::Text | Tag::Br => false,
        Tag::H1 => true,
        _ if scores.boilerplate[index] => true,
        Tag::List
        | Tag::Table
        | Tag::Block
        | Tag::ListItem
        | Tag::P
        | Tag::Heading
        | Tag::Quote
        | Tag::Cell => {
            let chars = f64::from(scores.chars[index]);
            chars > 0.0 && f64::from(scores.link_chars[index]) > chars * MAX_LINK_SHARE
        }
        _ => false,
    }
}

/// Writes the text of `container`, a paragraph per block.
fn write_text(dom: &Dom<'_>, scores: &Scores, container: usize) -> String {
    let nodes = &dom.nodes;
    let end = nodes[container].end as usize;
    let mut writer = ParagraphWriter::default();
    let mut open_blocks: Vec<usize> = Vec::new();
    let mut index = container + 1;
    while index < end {
        while open_blocks.last().is_some_and(|&block_end| block_end <= index) {
            open_blocks.pop();
            writer.flush();
        }
        let node = &nodes[index];
        if skip_in_output(dom, scores, index) {
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
    writer.finish()
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
