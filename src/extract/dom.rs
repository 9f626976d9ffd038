//! Flattens scraper's tree into a pre-order arena the scorer can walk with plain indices, and
//! collects the page's metadata (meta tags, JSON-LD, title, canonical link, language) in the same
//! single pass. Scripts, styles, forms controls, media and hidden elements never enter the arena.
//! No I/O.

use scraper::{Html, Node};
use web_atoms::local_name;

/// What an arena node is, reduced to what the scorer cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    /// A text node.
    Text,
    /// `<br>`: a line break inside a block.
    Br,
    /// `<a>`: link text counts against a block.
    A,
    /// `<p>`.
    P,
    /// `<h1>`: the page title, never article text.
    H1,
    /// `<h2>`-`<h6>`.
    Heading,
    /// `<li>`, `<dd>`, `<dt>`.
    ListItem,
    /// `<ul>`, `<ol>`, `<dl>`, `<menu>`.
    List,
    /// `<pre>`, `<blockquote>`.
    Quote,
    /// `<td>`, `<th>`.
    Cell,
    /// `<table>`, `<tr>`, `<tbody>`, ...
    Table,
    /// `<article>`, `<main>`, `<section>`, `<div>`, `<body>` and other block containers.
    Block,
    /// `<nav>`, `<aside>`, `<footer>`, `<header>`, `<form>`, `<figure>`, `<figcaption>`,
    /// `<dialog>`: boilerplate by definition.
    Boilerplate,
    /// Inline elements (`<span>`, `<em>`, unknown elements, ...).
    Inline,
}

impl Tag {
    /// Matches interned names (integer comparisons), not strings: this runs for every element.
    fn of(name: &web_atoms::LocalName) -> Option<Tag> {
        Some(match *name {
            local_name!("script")
            | local_name!("style")
            | local_name!("noscript")
            | local_name!("template")
            | local_name!("svg")
            | local_name!("math")
            | local_name!("iframe")
            | local_name!("object")
            | local_name!("embed")
            | local_name!("canvas")
            | local_name!("video")
            | local_name!("audio")
            | local_name!("select")
            | local_name!("option")
            | local_name!("button")
            | local_name!("input")
            | local_name!("textarea")
            | local_name!("link")
            | local_name!("meta")
            | local_name!("map")
            | local_name!("title")
            | local_name!("img")
            | local_name!("picture")
            | local_name!("source")
            | local_name!("label") => return None,
            local_name!("br") | local_name!("hr") => Tag::Br,
            local_name!("a") => Tag::A,
            local_name!("p") => Tag::P,
            local_name!("h1") => Tag::H1,
            local_name!("h2")
            | local_name!("h3")
            | local_name!("h4")
            | local_name!("h5")
            | local_name!("h6") => Tag::Heading,
            local_name!("li") | local_name!("dd") | local_name!("dt") => Tag::ListItem,
            local_name!("ul") | local_name!("ol") | local_name!("dl") => Tag::List,
            local_name!("pre") | local_name!("blockquote") => Tag::Quote,
            local_name!("td") | local_name!("th") => Tag::Cell,
            local_name!("table")
            | local_name!("tr")
            | local_name!("tbody")
            | local_name!("thead")
            | local_name!("tfoot")
            | local_name!("caption") => Tag::Table,
            local_name!("nav")
            | local_name!("aside")
            | local_name!("footer")
            | local_name!("header")
            | local_name!("form")
            | local_name!("figure")
            | local_name!("figcaption")
            | local_name!("dialog")
            | local_name!("menu")
            | local_name!("fieldset") => Tag::Boilerplate,
            // `head` is entered only for its metadata elements; its own text is whitespace.
            local_name!("div")
            | local_name!("article")
            | local_name!("main")
            | local_name!("section")
            | local_name!("body")
            | local_name!("html")
            | local_name!("head")
            | local_name!("center")
            | local_name!("address")
            | local_name!("details")
            | local_name!("summary")
            | local_name!("hgroup") => Tag::Block,
            _ => Tag::Inline,
        })
    }

    /// Starts a new paragraph in the output and owns its direct text for scoring.
    pub(crate) fn is_block(self) -> bool {
        !matches!(self, Tag::Text | Tag::Inline | Tag::A | Tag::Br)
    }
}

/// Class/id/role evidence on one element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Hint {
    #[default]
    Neutral,
    /// Looks like the article body (`itemprop=articleBody`, `article-body`, `entry-content`, ...).
    Content,
    /// Looks like boilerplate (share bars, bylines, navigation, sidebars, ...).
    Boilerplate,
    /// Names a section that is never the article, however long it is: reader comments, picture
    /// galleries and slide shows, recommendation and "related" streams.
    Sidetrack,
}

impl Hint {
    /// Boilerplate of either kind.
    pub(crate) fn is_boilerplate(self) -> bool {
        matches!(self, Hint::Boilerplate | Hint::Sidetrack)
    }
}

/// One arena node.
#[derive(Debug, Clone)]
pub(crate) struct DomNode<'a> {
    /// Index of the parent (`u32::MAX` for roots).
    pub(crate) parent: u32,
    /// One past the last node of this subtree.
    pub(crate) end: u32,
    pub(crate) tag: Tag,
    /// Text of a text node; empty otherwise.
    pub(crate) text: &'a str,
    pub(crate) hint: Hint,
    /// The element is `<article>` or carries `itemprop=articleBody`.
    pub(crate) semantic: bool,
    /// Inside an `<a>`.
    pub(crate) in_link: bool,
    /// A `rel=tag`/`rel=category` link: the post's tag list, left out of the text unless it
    /// stands inside a sentence (scores are unaffected).
    pub(crate) taxonomy: bool,
    /// Element name and its `class` (else `id`) attribute, for diagnostics.
    pub(crate) name: &'a str,
    pub(crate) label: &'a str,
}

/// Everything the metadata step needs from the page.
#[derive(Debug, Default)]
pub(crate) struct PageMeta {
    /// `(key, content)` of `<meta>` tags; key is `name`, `property` or `itemprop`, lower-cased.
    pub(crate) metas: Vec<(String, String)>,
    /// Bodies of `<script type="application/ld+json">`.
    pub(crate) json_ld: Vec<String>,
    pub(crate) title: Option<String>,
    pub(crate) canonical: Option<String>,
    pub(crate) html_lang: Option<String>,
    /// `datetime` of the first `<time>` elements (a few).
    pub(crate) times: Vec<String>,
    /// Text of elements whose class/rel/itemprop says "author"/"byline" (a few).
    pub(crate) bylines: Vec<String>,
}

/// The flattened page.
pub(crate) struct Dom<'a> {
    pub(crate) nodes: Vec<DomNode<'a>>,
    pub(crate) meta: PageMeta,
}

const MAX_TIMES: usize = 4;
const MAX_BYLINES: usize = 4;

/// Flattens `html` (a parsed document).
pub(crate) fn flatten(html: &Html) -> Dom<'_> {
    let mut nodes: Vec<DomNode<'_>> = Vec::with_capacity(html.tree.values().len() / 2);
    let mut meta = PageMeta::default();
    // Stack of (arena index, is_link) for open elements; skipped subtrees are not entered.
    let mut open: Vec<(u32, bool)> = Vec::new();
    // Pages repeat the same class names on hundreds of elements: each is classified once.
    let mut class_cache = ClassCache::default();
    // Iterative pre-order walk over ego_tree nodes with explicit child/sibling moves, so skipped
    // subtrees cost nothing and deep trees cannot overflow the call stack.
    let root = html.tree.root();
    let mut next = root.first_child();
    let mut depth_nodes = vec![root];
    while let Some(node) = next {
        let mut descend = false;
        match node.value() {
            Node::Text(text) => {
                let (parent, in_link) = open.last().copied().unwrap_or((u32::MAX, false));
                let index = nodes.len() as u32;
                nodes.push(DomNode {
                    parent,
                    end: index + 1,
                    tag: Tag::Text,
                    text,
                    hint: Hint::Neutral,
                    semantic: false,
                    in_link,
                    taxonomy: false,
                    name: "",
                    label: "",
                });
            }
            Node::Element(element) => {
                let name = element.name();
                match Tag::of(&element.name.local) {
                    None => collect_head_element(name, element, node, &mut meta),
                    Some(tag) => {
                        let attributes = Attributes::read(element, &mut class_cache);
                        if attributes.hidden {
                            // Hidden subtrees are neither text nor evidence.
                        } else {
                            if name == "html" {
                                meta.html_lang = attributes.lang.map(str::to_string);
                            }
                            if attributes.byline && meta.bylines.len() < MAX_BYLINES {
                                let text: String = node
                                    .descendants()
                                    .filter_map(|d| d.value().as_text())
                                    .map(|t| &**t)
                                    .collect::<Vec<_>>()
                                    .join(" ");
                                meta.bylines.push(text);
                            }
                            let (parent, parent_link) = open.last().copied().unwrap_or((u32::MAX, false));
                            let index = nodes.len() as u32;
                            nodes.push(DomNode {
                                parent,
                                end: index + 1,
                                tag,
                                text: "",
                                hint: attributes.hint,
                                semantic: name == "article" || attributes.article_body,
                                in_link: parent_link,
                                taxonomy: attributes.taxonomy,
                                name,
                                label: attributes.label,
                            });
                            open.push((index, parent_link || tag == Tag::A));
                            if name == "time"
                                && meta.times.len() < MAX_TIMES
                                && let Some(datetime) = attr(element, "datetime")
                            {
                                meta.times.push(datetime.to_string());
                            }
                            descend = true;
                        }
                    }
                }
            }
            _ => {}
        }
        if descend && let Some(child) = node.first_child() {
            depth_nodes.push(node);
            next = Some(child);
            continue;
        }
        if descend {
            close(&mut open, &mut nodes);
        }
        // Move to the next sibling, climbing (and closing elements) as needed.
        let mut current = node;
        loop {
            if let Some(sibling) = current.next_sibling() {
                next = Some(sibling);
                break;
            }
            match depth_nodes.pop() {
                Some(parent) if parent.id() != root.id() => {
                    close(&mut open, &mut nodes);
                    current = parent;
                }
                _ => {
                    next = None;
                    break;
                }
            }
        }
    }
    while !open.is_empty() {
        close(&mut open, &mut nodes);
    }
    Dom { nodes, meta }
}

fn close(open: &mut Vec<(u32, bool)>, nodes: &mut [DomNode<'_>]) {
    if let Some((index, _)) = open.pop() {
        nodes[index as usize].end = nodes.len() as u32;
    }
}

/// Reads an attribute by iterating (scraper's `attr` interns the name on every call).
fn attr<'a>(element: &'a scraper::node::Element, name: &str) -> Option<&'a str> {
    element.attrs().find(|(key, _)| *key == name).map(|(_, value)| value)
}

/// Records what `<meta>`, `<link>`, `<title>` and JSON-LD scripts say.
fn collect_head_element(
    name: &str,
    element: &scraper::node::Element,
    node: ego_tree::NodeRef<'_, Node>,
    meta: &mut PageMeta,
) {
    match name {
        "meta" => {
            let key = attr(element, "property")
                .or_else(|| attr(element, "name"))
                .or_else(|| attr(element, "itemprop"));
            let content = attr(element, "content").or_else(|| attr(element, "datetime"));
            if let (Some(key), Some(content)) = (key, content) {
                meta.metas.push((key.to_ascii_lowercase(), content.to_string()));
            } else if let (Some(equiv), Some(content)) = (attr(element, "http-equiv"), content)
                && equiv.eq_ignore_ascii_case("content-language")
            {
                meta.metas.push(("content-language".into(), content.to_string()));
            }
        }
        "link" => {
            if let (Some(rel), Some(href)) = (attr(element, "rel"), attr(element, "href"))
                && rel.split_ascii_whitespace().any(|r| r.eq_ignore_ascii_case("canonical"))
                && meta.canonical.is_none()
            {
                meta.canonical = Some(href.to_string());
            }
        }
        "title"
            if meta.title.is_none()
                && node.parent().and_then(|p| p.value().as_element()).is_some_and(|p| p.name() == "head") =>
        {
            meta.title = Some(child_text(node));
        }
        "script"
            if attr(element, "type")
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ld+json")) =>
        {
            meta.json_ld.push(child_text(node));
        }
        _ => {}
    }
}

fn child_text(node: ego_tree::NodeRef<'_, Node>) -> String {
    node.children().filter_map(|c| c.value().as_text()).map(|t| &**t).collect()
}

/// The attributes of one element that matter.
struct Attributes<'a> {
    hidden: bool,
    hint: Hint,
    article_body: bool,
    byline: bool,
    /// A `rel=tag`/`rel=category` link.
    taxonomy: bool,
    lang: Option<&'a str>,
    /// The `class` attribute, else the `id`.
    label: &'a str,
}

/// [`classify_words`] results by `class` or `id` value.
type ClassCache<'a> = std::collections::HashMap<&'a str, (Hint, bool)>;

/// Whether an inline `style` hides the element (`display: none`, `visibility: hidden`).
fn style_hides(style: &str) -> bool {
    style.split(';').any(|declaration| {
        let Some((property, value)) = declaration.split_once(':') else {
            return false;
        };
        let value = value.trim().trim_end_matches("!important").trim_end();
        let property = property.trim();
        (property.eq_ignore_ascii_case("display") && value.eq_ignore_ascii_case("none"))
            || (property.eq_ignore_ascii_case("visibility") && value.eq_ignore_ascii_case("hidden"))
    })
}

impl<'a> Attributes<'a> {
    fn read(element: &'a scraper::node::Element, class_cache: &mut ClassCache<'a>) -> Self {
        let mut out = Attributes {
            hidden: false,
            hint: Hint::Neutral,
            article_body: false,
            byline: false,
            taxonomy: false,
            lang: None,
            label: "",
        };
        let mut class_hint = Hint::Neutral;
        for (key, value) in element.attrs() {
            match key {
                "class" | "id" => {
                    if key == "class" || out.label.is_empty() {
                        out.label = value;
                    }
                    let (hint, byline) = *class_cache.entry(value).or_insert_with(|| classify_words(value));
                    // Content evidence wins over boilerplate, a sidetrack over other boilerplate.
                    class_hint = match (class_hint, hint) {
                        (Hint::Content, _) | (_, Hint::Content) => Hint::Content,
                        (Hint::Sidetrack, _) | (_, Hint::Sidetrack) => Hint::Sidetrack,
                        (Hint::Boilerplate, _) | (_, Hint::Boilerplate) => Hint::Boilerplate,
                        _ => Hint::Neutral,
                    };
                    out.byline |= byline;
                }
                "hidden" => out.hidden = true,
                "aria-hidden" => out.hidden |= value.trim().eq_ignore_ascii_case("true"),
                "style" => out.hidden |= style_hides(value),
                "itemprop" => {
                    let value = value.to_ascii_lowercase();
                    if value.contains("articlebody") || value == "text" || value == "reviewbody" {
                        out.article_body = true;
                    } else if value.contains("author") {
                        out.byline = true;
                    }
                }
                "rel" => {
                    out.byline |= value.eq_ignore_ascii_case("author");
                    // `rel=tag` (and `category`) marks a link into the site's taxonomy: the tag
                    // and category lists under a post, never the story's own words.
                    out.taxonomy |= value
                        .split_ascii_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("tag") || rel.eq_ignore_ascii_case("category"));
                }
                "role" => {
                    let value = value.to_ascii_lowercase();
                    if matches!(
                        value.as_str(),
                        "navigation"
                            | "complementary"
                            | "contentinfo"
                            | "banner"
                            | "menu"
                            | "menubar"
                            | "dialog"
                            | "alert"
                            | "search"
                            | "toolbar"
                            | "tablist"
                    ) {
                        out.hint = Hint::Boilerplate;
                    }
                }
                "lang" => out.lang = Some(value),
                _ => {}
            }
        }
        if out.hint == Hint::Neutral {
            out.hint = class_hint;
        }
        if out.article_body {
            out.hint = Hint::Content;
        }
        out
    }
}

/// Boilerplate words, matched against class/id tokens split on `-`, `_`, spaces and case changes.
/// A token matches a word when it equals it or, for words of five letters and more, starts with it.
const BOILERPLATE_WORDS: &[&str] = &[
    "comment",
    "comments",
    "disqus",
    "respond",
    "reply",
    "share",
    "sharing",
    "social",
    "sharebar",
    "related",
    "recommended",
    "recommendations",
    "recirc",
    "promo",
    "newsletter",
    "subscribe",
    "subscription",
    "signup",
    "sidebar",
    "cookie",
    "cookies",
    "consent",
    "gdpr",
    "advert",
    "advertisement",
    "ad",
    "ads",
    "adslot",
    "dfp",
    "sponsor",
    "sponsored",
    "banner",
    "popular",
    "mostread",
    "trending",
    "outbrain",
    "taboola",
    "breadcrumb",
    "breadcrumbs",
    "byline",
    "author",
    "bio",
    "footer",
    "masthead",
    "nav",
    "navbar",
    "navigation",
    "menu",
    "tags",
    "tag",
    "toolbar",
    "pagination",
    "pager",
    "widget",
    "modal",
    "popup",
    "login",
    "caption",
    "photo",
    "image",
    "figure",
    "cta",
    "credit",
    "credits",
    "skip",
    "hidden",
    "readmore",
    "jump",
    "print",
    "email",
    "rss",
    "follow",
    "donate",
    "more",
    "next",
    "prev",
    "previous",
    "dateline",
    "timestamp",
    "meta",
    "hide",
    "screen",
    "sr",
    "visually",
    "offscreen",
    "video",
    "gallery",
    "slideshow",
    "newsletters",
    "carousel",
    "slider",
    "slides",
    "swiper",
    "lightbox",
    "topics",
    "keywords",
    "alert",
];
/// The [`BOILERPLATE_WORDS`] (and prefixes) that name a [`Hint::Sidetrack`] section.
const SIDETRACK_WORDS: &[&str] = &[
    "comment",
    "comments",
    "disqus",
    "respond",
    "reply",
    "related",
    "recommended",
    "recommendations",
    "recirc",
    "outbrain",
    "taboola",
    "popular",
    "mostread",
    "trending",
    "gallery",
    "slideshow",
    "carousel",
    "slider",
    "slides",
    "swiper",
    "lightbox",
];
/// Class-name words after which the rest of the class is a state, not a role.
const MODIFIERS: &[&str] =
    &["has", "with", "no", "show", "hide", "enable", "enabled", "disable", "is", "without"];
/// Words that mark the article body.
const CONTENT_WORDS: &[&str] = &[
    "articlebody",
    "article-body",
    "article__body",
    "article_body",
    "story-body",
    "storybody",
    "story__body",
    "entry-content",
    "post-content",
    "post-body",
    "postbody",
    "article-content",
    "articlecontent",
    "story-content",
    "storycontent",
    "article-text",
    "articletext",
    "body-text",
    "bodytext",
    "post-entry",
    "entry-body",
    "content-body",
    "article__content",
    "story-text",
    "main-text",
    "article-main",
    "text-content",
    "rich-text",
    "richtext",
    "article-copy",
    "paywall-article",
    // Posts quoted in the story (the embed scripts style these blockquotes).
    "twitter-tweet",
    "instagram-media",
    "tiktok-embed",
];

/// Returns the hint and whether the element looks like a byline.
fn classify_words(words: &str) -> (Hint, bool) {
    let lower = words.to_ascii_lowercase();
    if CONTENT_WORDS.iter().any(|word| lower.contains(word)) {
        return (Hint::Content, false);
    }
    let mut boilerplate = false;
    let mut sidetrack = false;
    let mut byline = false;
    for class in lower.split_ascii_whitespace() {
        // "social-media-embed": a post embedded in the story, not a share bar ("social" alone
        // names share bars; a video embed's player menus still count as boilerplate).
        let embedded = class
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|token| token == "embed" || token == "embedded");
        let mut modifier = false;
        for token in class.split(|c: char| !c.is_ascii_alphanumeric()) {
            if token.is_empty() {
                continue;
            }
            // State classes ("has-image", "with-sidebar", "no-comments") describe the element,
            // they do not name it.
            if modifier {
                break;
            }
            if embedded && token == "social" {
                continue;
            }
            if MODIFIERS.contains(&token) {
                modifier = true;
                continue;
            }
            let matched = BOILERPLATE_WORDS.iter().any(|word| {
                token == *word
                    || (word.len() >= 5 && token.starts_with(word) && !token.starts_with("commentary"))
            });
            if matched {
                boilerplate = true;
                sidetrack |= SIDETRACK_WORDS
                    .iter()
                    .any(|word| token == *word || (word.len() >= 5 && token.starts_with(word)));
                byline |= token.starts_with("byline") || token.starts_with("author");
            }
        }
    }
    let hint = if sidetrack {
        Hint::Sidetrack
    } else if boilerplate {
        Hint::Boilerplate
    } else {
        Hint::Neutral
    };
    (hint, byline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_words_are_matched_as_tokens() {
        assert_eq!(classify_words("article-body__share-tools").0, Hint::Content);
        assert_eq!(classify_words("c-share-bar").0, Hint::Boilerplate);
        assert_eq!(classify_words("comments-area").0, Hint::Sidetrack);
        assert_eq!(classify_words("full-gallery").0, Hint::Sidetrack);
        assert_eq!(classify_words("social-media-embed").0, Hint::Neutral);
        assert_eq!(classify_words("video-embed").0, Hint::Boilerplate);
        assert_eq!(classify_words("commentary-body").0, Hint::Neutral);
        assert_eq!(classify_words("heads uploads").0, Hint::Neutral);
        assert_eq!(classify_words("card has-image with-sidebar").0, Hint::Neutral);
        assert!(classify_words("byline").1);
    }

    #[test]
    fn flatten_skips_scripts_and_hidden_and_collects_metadata() {
        let html = Html::parse_document(
            "<html lang=ru><head><title>T</title><meta property='og:title' content='OG'>\
             <link rel=canonical href='/c'><script type='application/ld+json'>{\"a\":1}</script></head>\
             <body><p>one <a href=x>two</a></p><script>var x</script><div hidden>gone</div>\
             <time datetime='2024-01-02'>x</time></body></html>",
        );
        let dom = flatten(&html);
        let texts: Vec<&str> = dom.nodes.iter().filter(|n| n.tag == Tag::Text).map(|n| n.text).collect();
        assert_eq!(texts, ["one ", "two", "x"]);
        assert!(dom.nodes.iter().any(|n| n.text == "two" && n.in_link));
        assert_eq!(dom.meta.title.as_deref(), Some("T"));
        assert_eq!(dom.meta.canonical.as_deref(), Some("/c"));
        assert_eq!(dom.meta.html_lang.as_deref(), Some("ru"));
        assert_eq!(dom.meta.json_ld, ["{\"a\":1}"]);
        assert_eq!(dom.meta.times, ["2024-01-02"]);
        assert!(dom.meta.metas.contains(&("og:title".into(), "OG".into())));
        // Subtree ranges are consistent.
        for (index, node) in dom.nodes.iter().enumerate() {
            assert!(node.end as usize > index && node.end as usize <= dom.nodes.len());
        }
    }
}
