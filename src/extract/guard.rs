//! The structural guard: a linear pre-scan that bounds what html5ever's tree builder will cost on
//! a page *before* it is parsed.
//!
//! html5ever has no nesting cap and several of its steps walk the whole stack of open elements or
//! the list of active formatting elements, so its cost grows with depth × tags (16,000 nested
//! `<div>`s take 2 s; see `RELIABILITY.md` §1.6), and with the square of distinct attributes on
//! one tag. The guard tokenizes the page with [`super::scan`] and simulates the tree builder's
//! stack with the standard's implied-end-tag, scope, adoption-agency and formatting-reconstruction
//! rules, erring on the side of a *deeper* stack wherever it simplifies, so its depth is an upper
//! bound of html5ever's. It charges each tag the depth it is processed at (and each tag's attribute
//! count squared) against a work budget; when the depth, the attribute count of one tag, the
//! budget or the byte limit is exceeded it cuts the page before the offending tag. No I/O.

use std::ops::Range;

use super::scan::{Token, Tokenizer, raw_text_kind};

/// Browsers stop nesting at 512 (Chromium's `kMaximumHTMLParserDOMTreeDepth`); real article pages
/// stay under ~60 even by this over-estimating simulation.
pub(crate) const MAX_DEPTH: usize = 512;
/// html5ever de-duplicates attributes pairwise: 1,000 attributes cost under 1 ms, 40,000 cost
/// 1.2 s. Real tags carry fewer than 50.
pub(crate) const MAX_ATTRIBUTES_PER_TAG: usize = 1000;
/// Work units (≈ one stack entry visited by html5ever, ~15-20 ns on this machine); 2.5 million
/// keep the parse's non-linear part near 50 ms. An ordinary 1 MB page uses ~0.3 million.
pub(crate) const MAX_WORK: u64 = 2_500_000;
/// Work charged for an element html5ever creates by reopening a formatting element: measured
/// ~0.8 µs each (50,000 `<p><b class=N>x</p>` reopen ~k elements at the k-th paragraph).
const RECONSTRUCTED_ELEMENT_WORK: u64 = 45;
/// Plain size bound: html5ever parses ordinary markup at ~100 MB/s and extraction roughly
/// doubles that, so 3 MiB of plain paragraphs cost ~50 ms in all (measured by the bench).
pub(crate) const MAX_BYTES: usize = 3 << 20;

/// The guard's verdict on a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Parse only `html[..safe_len]`.
    pub(crate) safe_len: usize,
    /// Why the page was cut, when it was.
    pub(crate) cut_reason: Option<String>,
    /// Deepest simulated stack seen in the safe part.
    pub(crate) max_depth: usize,
    /// Work units charged for the safe part.
    pub(crate) work: u64,
    /// Byte ranges (inside the safe part) of the bodies of `<script>` (other than JSON-LD),
    /// `<style>` and `<noscript>` elements: raw text the extractor never reads, usually more
    /// than half of a news page's bytes. Leaving them out of what html5ever parses gives the
    /// same tree without that text.
    pub(crate) unread: Vec<Range<usize>>,
}

impl Verdict {
    /// The safe part of `html` without the [`Verdict::unread`] ranges.
    pub(crate) fn parse_input<'a>(&self, html: &'a str) -> std::borrow::Cow<'a, str> {
        if self.unread.is_empty() {
            return std::borrow::Cow::Borrowed(&html[..self.safe_len]);
        }
        let removed: usize = self.unread.iter().map(|range| range.len()).sum();
        let mut out = String::with_capacity(self.safe_len - removed);
        let mut from = 0;
        for range in &self.unread {
            out.push_str(&html[from..range.start]);
            from = range.end;
        }
        out.push_str(&html[from..self.safe_len]);
        std::borrow::Cow::Owned(out)
    }
}

/// Whether a raw-text element's body is never read by the extractor: scripts other than
/// JSON-LD, styles, and `noscript` (raw text, since html5ever parses with scripting on).
fn is_unread(input: &[u8], name: &[u8], attributes: &[(Range<usize>, Range<usize>)]) -> bool {
    if name.eq_ignore_ascii_case(b"style") || name.eq_ignore_ascii_case(b"noscript") {
        return true;
    }
    name.eq_ignore_ascii_case(b"script")
        && !attributes.iter().any(|(key, value)| {
            input[key.clone()].eq_ignore_ascii_case(b"type")
                && input[value.clone()].to_ascii_lowercase().windows(7).any(|window| window == b"ld+json")
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    /// A name in the input.
    Input(u32, u16),
    /// An element the tree builder inserts by itself (`tbody`, `tr`).
    Implied(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Namespace {
    Html,
    Svg,
    MathMl,
}

#[derive(Debug, Clone, Copy)]
struct Open {
    name: Name,
    namespace: Namespace,
    /// An SVG or MathML element whose children are parsed as HTML (`foreignObject`, `mi`, ...).
    integration: bool,
    /// An entry of the list of active formatting elements, by its attribute hash.
    formatting: Option<u64>,
    /// The name lower-cased and its [`name_flags`], computed once when the entry is pushed
    /// (stack walks look at them for every entry they pass).
    lower: LowerName,
    flags: u16,
}

#[derive(Debug, Clone, Copy)]
struct Active {
    name: Name,
    attribute_hash: u64,
    in_stack: bool,
}

/// `special` elements of the HTML standard (plus the MathML/SVG integration points that share
/// names with nothing else): generic end tags cannot close past them.
const SPECIAL: &[&str] = &[
    "address",
    "applet",
    "area",
    "article",
    "aside",
    "base",
    "basefont",
    "bgsound",
    "blockquote",
    "body",
    "br",
    "button",
    "caption",
    "center",
    "col",
    "colgroup",
    "dd",
    "details",
    "dir",
    "div",
    "dl",
    "dt",
    "embed",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "frame",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hgroup",
    "hr",
    "html",
    "iframe",
    "img",
    "input",
    "keygen",
    "li",
    "link",
    "listing",
    "main",
    "marquee",
    "menu",
    "meta",
    "nav",
    "noembed",
    "noframes",
    "noscript",
    "object",
    "ol",
    "p",
    "param",
    "plaintext",
    "pre",
    "script",
    "search",
    "section",
    "select",
    "source",
    "style",
    "summary",
    "table",
    "tbody",
    "td",
    "template",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "track",
    "ul",
    "wbr",
    "xmp",
    "mi",
    "mo",
    "mn",
    "ms",
    "mtext",
    "annotation-xml",
    "foreignobject",
    "desc",
];
/// The entries of [`SPECIAL`] that are special only as MathML or SVG elements.
const FOREIGN_SPECIAL: &[&str] =
    &["mi", "mo", "mn", "ms", "mtext", "annotation-xml", "foreignobject", "desc"];
const VOID: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img", "input",
    "keygen", "link", "meta", "param", "source", "track", "wbr",
];
const FORMATTING: &[&str] =
    &["a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u"];
/// Start tags that close an open `<p>` (in button scope) before they are inserted.
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "header",
    "hgroup",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "search",
    "section",
    "summary",
    "ul",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "listing",
    "form",
    "hr",
    "xmp",
    "plaintext",
    "dd",
    "dt",
    "li",
];
/// Elements that stop the default "has an element in scope" walk. Includes the table cells and
/// foreign integration points; using the widest set makes end tags close *less*, never more.
const SCOPE_BOUNDARY: &[&str] = &[
    // html5ever 0.40 parses `<select>` content like body content ("customizable select");
    // never closing across it keeps the simulation on the deep side.
    "select",
    "applet",
    "caption",
    "html",
    "table",
    "td",
    "th",
    "marquee",
    "object",
    "template",
    "mi",
    "mo",
    "mn",
    "ms",
    "mtext",
    "annotation-xml",
    "foreignobject",
    "desc",
    "title",
];
/// The scopes of the HTML tree-construction algorithm: "button scope" (for `p`) and "list
/// item scope" (for `li`) add to the default boundaries; "table scope" has its own.
#[derive(Debug, Clone, Copy)]
enum Scope {
    Default,
    Button,
    ListItem,
    Table,
}

impl Scope {
    fn is_boundary(self, name: &str, flags: u16) -> bool {
        match self {
            Scope::Default => flags & F_SCOPE_BOUNDARY != 0,
            Scope::Button => name == "button" || flags & F_SCOPE_BOUNDARY != 0,
            Scope::ListItem => matches!(name, "ol" | "ul") || flags & F_SCOPE_BOUNDARY != 0,
            Scope::Table => flags & F_TABLE_SCOPE_BOUNDARY != 0,
        }
    }
}

const TABLE_SCOPE_BOUNDARY: &[&str] = &["html", "table", "template", "select"];
const TABLE_PARTS: &[&str] = &["table", "tbody", "thead", "tfoot", "tr", "td", "th", "caption", "colgroup"];
/// Start tags that leave SVG/MathML content (the standard's "breakout" list, without `font`,
/// which only breaks out with some attributes: keeping it foreign over-estimates depth).
const BREAKOUT: &[&str] = &[
    "b",
    "big",
    "blockquote",
    "body",
    "br",
    "center",
    "code",
    "dd",
    "div",
    "dl",
    "dt",
    "em",
    "embed",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "hr",
    "i",
    "img",
    "li",
    "listing",
    "menu",
    "meta",
    "nobr",
    "ol",
    "p",
    "pre",
    "ruby",
    "s",
    "small",
    "span",
    "strong",
    "strike",
    "sub",
    "sup",
    "table",
    "tt",
    "u",
    "ul",
    "var",
];
/// Whether a foreign element's children are parsed as HTML.
fn is_integration_point(namespace: Namespace, lower: &str, html_annotation: bool) -> bool {
    match namespace {
        Namespace::Svg => matches!(lower, "foreignobject" | "desc" | "title"),
        Namespace::MathMl => {
            matches!(lower, "mi" | "mo" | "mn" | "ms" | "mtext")
                || (lower == "annotation-xml" && html_annotation)
        }
        Namespace::Html => false,
    }
}

const F_SPECIAL: u16 = 1;
const F_FOREIGN_SPECIAL: u16 = 1 << 1;
const F_VOID: u16 = 1 << 2;
const F_FORMATTING: u16 = 1 << 3;
const F_CLOSES_P: u16 = 1 << 4;
const F_SCOPE_BOUNDARY: u16 = 1 << 5;
const F_TABLE_SCOPE_BOUNDARY: u16 = 1 << 6;
const F_TABLE_PARTS: u16 = 1 << 7;
const F_BREAKOUT: u16 = 1 << 8;

/// Which of the name lists above hold `lower`, as `F_*` bits: one hash lookup instead of a
/// walk over each list for every tag and every stack entry.
fn name_flags(lower: &str) -> u16 {
    static FLAGS: std::sync::OnceLock<std::collections::HashMap<&'static str, u16>> =
        std::sync::OnceLock::new();
    let table = FLAGS.get_or_init(|| {
        let mut table = std::collections::HashMap::new();
        for (list, flag) in [
            (SPECIAL, F_SPECIAL),
            (FOREIGN_SPECIAL, F_FOREIGN_SPECIAL),
            (VOID, F_VOID),
            (FORMATTING, F_FORMATTING),
            (CLOSES_P, F_CLOSES_P),
            (SCOPE_BOUNDARY, F_SCOPE_BOUNDARY),
            (TABLE_SCOPE_BOUNDARY, F_TABLE_SCOPE_BOUNDARY),
            (TABLE_PARTS, F_TABLE_PARTS),
            (BREAKOUT, F_BREAKOUT),
        ] {
            for name in list {
                *table.entry(*name).or_insert(0) |= flag;
            }
        }
        table
    });
    table.get(lower).copied().unwrap_or(0)
}

/// The simulation state.
struct Simulation<'a> {
    input: &'a [u8],
    stack: Vec<Open>,
    active: Vec<Active>,
    work: u64,
    max_depth: usize,
}

impl<'a> Simulation<'a> {
    fn name_bytes(&self, name: Name) -> &[u8] {
        match name {
            Name::Input(start, len) => &self.input[start as usize..start as usize + len as usize],
            Name::Implied(name) => name.as_bytes(),
        }
    }

    fn lower(&self, name: Name) -> LowerName {
        LowerName::new(self.name_bytes(name))
    }

    fn same_name(&self, a: Name, b: Name) -> bool {
        self.name_bytes(a).eq_ignore_ascii_case(self.name_bytes(b))
    }

    fn entry(&self, name: Name, namespace: Namespace, integration: bool, formatting: Option<u64>) -> Open {
        let lower = self.lower(name);
        let flags = name_flags(lower.as_str());
        Open { name, namespace, integration, formatting, lower, flags }
    }

    fn push(&mut self, open: Open) {
        self.stack.push(open);
        self.max_depth = self.max_depth.max(self.stack.len());
    }

    /// Pops the top entry, marking its formatting entry (if any) as out of the stack.
    fn pop(&mut self) {
        if let Some(open) = self.stack.pop()
            && let Some(hash) = open.formatting
        {
            let name = open.name;
            if let Some(index) = (0..self.active.len()).rev().find(|&index| {
                let entry = self.active[index];
                entry.in_stack && entry.attribute_hash == hash && self.same_name(entry.name, name)
            }) {
                self.active[index].in_stack = false;
            }
        }
    }

    /// Index of the topmost open element named `name`, walking down until a boundary.
    fn find_in_scope(&mut self, name: &str, scope: Scope, stop_at_special: bool) -> Option<usize> {
        for index in (0..self.stack.len()).rev() {
            self.work += 1;
            let open = &self.stack[index];
            let lower = open.lower.as_str();
            if lower == name && open.namespace == Namespace::Html {
                return Some(index);
            }
            if scope.is_boundary(lower, open.flags) || (stop_at_special && open.flags & F_SPECIAL != 0) {
                return None;
            }
        }
        None
    }

    fn pop_to(&mut self, index: usize) {
        while self.stack.len() > index {
            self.pop();
        }
    }

    fn close_if_in_scope(&mut self, name: &str, scope: Scope) {
        if let Some(index) = self.find_in_scope(name, scope, false) {
            self.pop_to(index);
        }
    }

    /// "Reconstruct the active formatting elements": reopens the trailing run of entries that
    /// are no longer in the stack.
    fn reconstruct(&mut self) {
        let mut first = self.active.len();
        while first > 0 && !self.active[first - 1].in_stack {
            first -= 1;
            self.work += 1;
        }
        for index in first..self.active.len() {
            let entry = self.active[index];
            self.active[index].in_stack = true;
            // Each reopened element is a new node the markup did not pay for in bytes.
            self.work += RECONSTRUCTED_ELEMENT_WORK + self.stack.len() as u64;
            self.push(self.entry(entry.name, Namespace::Html, false, Some(entry.attribute_hash)));
        }
    }

    /// Whether a `<table>` or `<template>` is open: only there does html5ever insert table parts.
    fn in_table_or_template(&mut self) -> bool {
        for index in (0..self.stack.len()).rev() {
            self.work += 1;
            let open = self.stack[index];
            if open.namespace == Namespace::Html && matches!(open.lower.as_str(), "table" | "template") {
                return true;
            }
        }
        false
    }

    /// Whether the current node is one of `names` (HTML namespace).
    fn top_is(&self, names: &[&str]) -> bool {
        self.stack
            .last()
            .is_some_and(|top| top.namespace == Namespace::Html && names.contains(&top.lower.as_str()))
    }

    fn top_is_foreign_content(&self) -> bool {
        self.stack.last().is_some_and(|top| top.namespace != Namespace::Html && !top.integration)
    }

    /// Processes a start tag; returns whether the element was inserted as an HTML element (only
    /// those switch the tokenizer to raw text). `html_annotation` says an `annotation-xml` tag
    /// carries `encoding="text/html"` (or XHTML), which makes it an HTML integration point.
    fn start_tag(
        &mut self,
        name: Name,
        self_closing: bool,
        attribute_hash: u64,
        html_annotation: bool,
    ) -> bool {
        self.work += self.stack.len() as u64 + 1;
        let lower = self.lower(name);
        let lower = lower.as_str();
        let flags = name_flags(lower);
        if self.top_is_foreign_content() {
            if flags & F_BREAKOUT != 0 {
                while self.top_is_foreign_content() {
                    self.pop();
                }
            } else {
                // A foreign element takes the namespace of the current node, whatever its name
                // (`<svg><math>` is an SVG element called "math").
                let namespace = self.stack.last().map_or(Namespace::Html, |top| top.namespace);
                if !self_closing {
                    let integration = is_integration_point(namespace, lower, html_annotation);
                    self.push(self.entry(name, namespace, integration, None));
                }
                return false;
            }
        }
        match lower {
            "html" | "body" | "head" | "frameset" => return true,
            "svg" | "math" => {
                self.reconstruct();
                if !self_closing {
                    let namespace = if lower == "svg" { Namespace::Svg } else { Namespace::MathMl };
                    self.push(self.entry(name, namespace, false, None));
                }
                return false;
            }
            _ => {}
        }
        if flags & F_CLOSES_P != 0 {
            self.close_if_in_scope("p", Scope::Button);
        }
        match lower {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" if self.top_is(&["h1", "h2", "h3", "h4", "h5", "h6"]) => {
                self.pop();
            }
            "li" | "dd" | "dt" => {
                let closes: &[&str] = if lower == "li" { &["li"] } else { &["dd", "dt"] };
                for index in (0..self.stack.len()).rev() {
                    self.work += 1;
                    let flags = self.stack[index].flags;
                    let open = self.stack[index].lower;
                    let open = open.as_str();
                    if closes.contains(&open) {
                        self.pop_to(index);
                        break;
                    }
                    if flags & F_SPECIAL != 0 && !matches!(open, "address" | "div" | "p") {
                        break;
                    }
                }
            }
            "option" | "optgroup" if self.top_is(&["option"]) => self.pop(),
            // Outside a table, html5ever drops table-part start tags; pushing them would let a
            // later `</tbody>` pop what html5ever keeps open.
            "td" | "th" | "tr" | "tbody" | "thead" | "tfoot" | "caption" | "colgroup"
                if !self.in_table_or_template() =>
            {
                return true;
            }
            "button" => self.close_if_in_scope("button", Scope::Default),
            "td" | "th" => {
                if let Some(index) = self.find_in_scope("td", Scope::Table, false) {
                    self.pop_to(index);
                } else if let Some(index) = self.find_in_scope("th", Scope::Table, false) {
                    self.pop_to(index);
                }
                if !self.top_is(&["tr"]) {
                    self.push(self.entry(Name::Implied("tbody"), Namespace::Html, false, None));
                    self.push(self.entry(Name::Implied("tr"), Namespace::Html, false, None));
                }
            }
            "tr" => {
                self.close_if_in_scope("tr", Scope::Table);
                if !self
                    .stack
                    .last()
                    .is_some_and(|top| matches!(top.lower.as_str(), "tbody" | "thead" | "tfoot"))
                {
                    self.push(self.entry(Name::Implied("tbody"), Namespace::Html, false, None));
                }
            }
            "tbody" | "thead" | "tfoot" => {
                for section in ["tbody", "thead", "tfoot"] {
                    self.close_if_in_scope(section, Scope::Table);
                }
            }
            _ => {}
        }
        if flags & F_VOID != 0 {
            if flags & F_SPECIAL == 0
                || matches!(lower, "img" | "image" | "input" | "embed" | "wbr" | "keygen" | "area" | "br")
            {
                self.reconstruct();
            }
            return true;
        }
        if flags & F_FORMATTING != 0 {
            self.reconstruct();
            // Noah's Ark: at most three identical entries are kept.
            let mut identical = 0;
            let mut earliest = None;
            for index in (0..self.active.len()).rev() {
                self.work += 1;
                let entry = self.active[index];
                if entry.attribute_hash == attribute_hash && self.same_name(entry.name, name) {
                    identical += 1;
                    earliest = Some(index);
                }
            }
            if identical >= 3
                && let Some(index) = earliest
            {
                // The removed entry's stack element stays open; it is just no longer reopened.
                self.active.remove(index);
            }
            self.active.push(Active { name, attribute_hash, in_stack: true });
            self.push(self.entry(name, Namespace::Html, false, Some(attribute_hash)));
            return true;
        }
        if flags & F_SPECIAL == 0
            || flags & F_FOREIGN_SPECIAL != 0
            || matches!(lower, "applet" | "marquee" | "object")
        {
            self.reconstruct();
        }
        self.push(self.entry(name, Namespace::Html, false, None));
        true
    }

    fn end_tag(&mut self, name: Name) {
        self.work += self.stack.len() as u64 + 1;
        let lower = self.lower(name);
        let lower = lower.as_str();
        let flags = name_flags(lower);
        if flags & F_FORMATTING != 0 {
            self.formatting_end_tag(name);
            return;
        }
        match lower {
            "html" | "body" | "head" | "br" => {}
            _ if flags & F_TABLE_PARTS != 0 => self.close_if_in_scope(lower, Scope::Table),
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                // Any heading end tag closes the nearest open heading of any level.
                let nearest = ["h1", "h2", "h3", "h4", "h5", "h6"]
                    .iter()
                    .filter_map(|heading| self.find_in_scope(heading, Scope::Default, false))
                    .max();
                if let Some(index) = nearest {
                    self.pop_to(index);
                }
            }
            "p" => self.close_if_in_scope("p", Scope::Button),
            // `</form>` takes the form element out of the stack and leaves what it holds open.
            "form" => {
                if let Some(index) = self.find_in_scope("form", Scope::Default, false) {
                    self.stack.remove(index);
                }
            }
            "li" => self.close_if_in_scope("li", Scope::ListItem),
            // MathML/SVG names are special only in their namespaces; as HTML end tags they take
            // the generic path below.
            _ if flags & F_SPECIAL != 0 && flags & F_FOREIGN_SPECIAL == 0 => {
                self.close_if_in_scope(lower, Scope::Default)
            }
            _ => self.any_other_end_tag(name),
        }
    }

    /// "Any other end tag": pops to the nearest element of that name unless a special element
    /// comes first.
    fn any_other_end_tag(&mut self, name: Name) {
        for index in (0..self.stack.len()).rev() {
            self.work += 1;
            let open = self.stack[index];
            if self.same_name(open.name, name) {
                self.pop_to(index);
                return;
            }
            if open.flags & F_SPECIAL != 0 {
                return;
            }
        }
    }

    /// The adoption agency, approximated: an end tag for a formatting element closes it only when
    /// no special element is open above it; otherwise html5ever moves nodes around without
    /// making the stack shorter, so the simulation leaves the stack as it is.
    fn formatting_end_tag(&mut self, name: Name) {
        let Some(active_index) =
            (0..self.active.len()).rev().find(|&index| self.same_name(self.active[index].name, name))
        else {
            self.any_other_end_tag(name);
            return;
        };
        self.work += (self.active.len() - active_index) as u64;
        if !self.active[active_index].in_stack {
            self.active.remove(active_index);
            return;
        }
        let hash = self.active[active_index].attribute_hash;
        let mut special_above = false;
        for index in (0..self.stack.len()).rev() {
            self.work += 1;
            let open = self.stack[index];
            if open.formatting == Some(hash) && self.same_name(open.name, name) {
                if !special_above {
                    self.active[active_index].in_stack = false;
                    self.active.remove(active_index);
                    // The element's own entry is gone, so `pop` will not find it again.
                    while self.stack.len() > index {
                        self.pop();
                    }
                }
                return;
            }
            special_above |= open.flags & F_SPECIAL != 0;
        }
    }

    fn text(&mut self) {
        if !self.top_is_foreign_content() {
            self.reconstruct();
        }
    }
}

/// A lower-cased tag name on the stack (names longer than any known tag are never "known").
#[derive(Debug, Clone, Copy)]
struct LowerName {
    bytes: [u8; 16],
    len: usize,
}

impl LowerName {
    fn new(name: &[u8]) -> Self {
        let mut bytes = [0u8; 16];
        if name.len() > bytes.len() {
            // Marks "unknown": no known tag has a NUL byte.
            return LowerName { bytes, len: 1 };
        }
        for (target, source) in bytes.iter_mut().zip(name) {
            *target = source.to_ascii_lowercase();
        }
        LowerName { bytes, len: name.len() }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("\0")
    }
}

fn input_name(range: &Range<usize>) -> Name {
    // Tag names longer than u16::MAX bytes are cut; they are never known names and two such
    // names compare equal only if their first 64 KiB match, which only merges unknown elements
    // and so only shortens `any_other_end_tag` walks.
    Name::Input(range.start as u32, (range.end - range.start).min(u16::MAX as usize) as u16)
}

/// Scans `html` and says how much of it is safe to hand to html5ever.
pub(crate) fn check(html: &str) -> Verdict {
    let input = html.as_bytes();
    let mut tokenizer = Tokenizer::new(input);
    let mut simulation = Simulation { input, stack: Vec::new(), active: Vec::new(), work: 0, max_depth: 0 };
    let mut unread: Vec<Range<usize>> = Vec::new();
    loop {
        // Everything before `token_start` was simulated within the limits, so it is a safe prefix.
        let token_start = tokenizer.position();
        let mut problem = None;
        if token_start > MAX_BYTES {
            problem = Some(format!("page is larger than {MAX_BYTES} bytes"));
        } else {
            match tokenizer.next_token() {
                Token::Eof => {
                    return Verdict {
                        safe_len: html.len(),
                        cut_reason: None,
                        max_depth: simulation.max_depth,
                        work: simulation.work,
                        unread,
                    };
                }
                Token::Text { blank } => {
                    if !blank {
                        simulation.text();
                    }
                }
                Token::Start { name, self_closing, attributes, attribute_hash, .. } => {
                    if attributes > MAX_ATTRIBUTES_PER_TAG {
                        problem = Some(format!(
                            "a tag has {attributes} attributes (limit {MAX_ATTRIBUTES_PER_TAG})"
                        ));
                    } else {
                        simulation.work += (attributes * attributes / 16) as u64;
                        let html_annotation = input[name.clone()].eq_ignore_ascii_case(b"annotation-xml")
                            && tokenizer.attributes().iter().any(|(key, value)| {
                                input[key.clone()].eq_ignore_ascii_case(b"encoding")
                                    && (input[value.clone()].eq_ignore_ascii_case(b"text/html")
                                        || input[value.clone()]
                                            .eq_ignore_ascii_case(b"application/xhtml+xml"))
                            });
                        let html_element = simulation.start_tag(
                            input_name(&name),
                            self_closing,
                            attribute_hash,
                            html_annotation,
                        );
                        // Only HTML elements switch the tokenizer: inside SVG/MathML, `<style>`,
                        // `<title>` and the like hold markup.
                        if let Some(kind) = raw_text_kind(&input[name.clone()])
                            && html_element
                        {
                            let body_start = tokenizer.position();
                            let skip = is_unread(input, &input[name.clone()], tokenizer.attributes());
                            tokenizer.skip_raw_text(kind, name);
                            if skip && tokenizer.position() > body_start {
                                unread.push(body_start..tokenizer.position());
                            }
                        }
                    }
                }
                Token::End { name, .. } => simulation.end_tag(input_name(&name)),
            }
        }
        if problem.is_none() {
            if simulation.max_depth > MAX_DEPTH {
                problem = Some(format!("tags nested deeper than {MAX_DEPTH}"));
            } else if simulation.work > MAX_WORK {
                problem = Some(format!("markup too complex to parse cheaply (over {MAX_WORK} work units)"));
            }
        }
        if let Some(reason) = problem {
            let safe_len = floor_char_boundary(html, token_start);
            unread.retain(|range| range.end <= safe_len);
            return Verdict {
                safe_len,
                unread,
                cut_reason: Some(reason),
                max_depth: simulation.max_depth,
                work: simulation.work,
            };
        }
    }
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_markup_passes_with_its_real_depth() {
        let html = "<!doctype html><html><head><title>x</title></head><body><div><p>a<p>b<ul><li>1<li>2</ul>\
                    <table><tr><td>c<td>d<tr><td>e</table><b>x</b><p><i>y</p></div></body></html>";
        let verdict = check(html);
        assert_eq!(verdict.safe_len, html.len());
        assert_eq!(verdict.cut_reason, None);
        assert!(verdict.max_depth <= 6, "depth {}", verdict.max_depth);
    }

    #[test]
    fn unclosed_paragraphs_and_list_items_do_not_accumulate() {
        let html = format!("<div>{}</div><ul>{}</ul>", "<p>text ".repeat(5000), "<li>item ".repeat(5000));
        let verdict = check(&html);
        assert_eq!(verdict.cut_reason, None);
        assert!(verdict.max_depth <= 4, "depth {}", verdict.max_depth);
    }

    #[test]
    fn deep_nesting_is_cut_before_the_limit() {
        let html = format!("<p>keep me</p>{}", "<div>".repeat(16_000));
        let verdict = check(&html);
        assert!(verdict.cut_reason.as_deref().unwrap_or("").contains("deeper"), "{verdict:?}");
        assert!(verdict.safe_len < 600 * 5 && verdict.safe_len > 10);
    }

    #[test]
    fn reopened_formatting_elements_count_towards_depth() {
        // Each `</p>` closes the `<b>`, the next text reopens every one of them in html5ever.
        let html: String = (0..2000).map(|index| format!("<p><b class=c{index}>x</p>")).collect();
        let verdict = check(&html);
        assert!(verdict.cut_reason.is_some(), "{verdict:?}");
        // Identical ones are capped at three by the Noah's Ark clause, as in html5ever.
        let html = "<p><b>x</p>".repeat(2000);
        assert_eq!(check(&html).cut_reason, None);
    }

    #[test]
    fn misnested_formatting_under_blocks_is_not_assumed_closed() {
        let html = "<b><div>x</b>".repeat(2000);
        assert!(check(&html).cut_reason.is_some());
        let html = "<span><div>x</span>".repeat(2000);
        assert!(check(&html).cut_reason.is_some());
    }

    #[test]
    fn huge_attribute_lists_are_cut() {
        let attributes: String = (0..5000).map(|index| format!(" a{index}=x")).collect();
        let html = format!("<p>ok</p><div{attributes}>x</div>");
        let verdict = check(&html);
        assert_eq!(verdict.safe_len, "<p>ok</p>".len());
        assert!(verdict.cut_reason.unwrap().contains("attributes"));
    }

    #[test]
    fn foreign_content_self_closing_tags_do_not_nest() {
        let html = format!("<svg>{}</svg><p>after", "<path d='M0'/>".repeat(5000));
        let verdict = check(&html);
        assert_eq!(verdict.cut_reason, None);
        assert!(verdict.max_depth <= 3);
        // Markup inside an SVG <style> is counted, never skipped.
        let html = format!("<svg><style>{}", "<div>".repeat(1000));
        assert!(check(&html).cut_reason.is_some());
    }
}
