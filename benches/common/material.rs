//! The fixture material of the load benchmarks (`load`, `scale_out`): the `<item>` blocks of two
//! real feeds and four real article pages from `tests/fixtures`, and how a farm turns them into
//! feed documents.

use std::io::Read;

/// The fixture material: a channel head, `<item>` blocks of the real feeds, and the real pages.
pub struct Material {
    pub channel_head: String,
    pub items: Vec<String>,
    pub pages: Vec<Vec<u8>>,
}

fn fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Reads the material (panics when a fixture is missing: a broken checkout).
pub fn load_material() -> Material {
    let mut items = Vec::new();
    let mut channel_head = String::new();
    for name in ["moscow-times.xml", "talks.xml"] {
        let xml = std::fs::read_to_string(fixtures().join("feeds").join(name)).expect("fixture feed");
        if channel_head.is_empty() {
            let start = xml.find("<channel>").expect("a channel") + "<channel>".len();
            let end = xml.find("<item>").unwrap_or(xml.len());
            channel_head = xml[..end.max(start)].to_string();
        }
        let mut rest = xml.as_str();
        while let Some(start) = rest.find("<item>") {
            let Some(len) = rest[start..].find("</item>") else { break };
            items.push(rest[start..start + len + "</item>".len()].to_string());
            rest = &rest[start + len..];
        }
    }
    let mut pages = Vec::new();
    for name in
        ["jpost.html.gz", "panarmenian.html.gz", "loopback-gazette.html", "captions-and-comments.html"]
    {
        let raw = std::fs::read(fixtures().join("pages").join(name)).expect("fixture page");
        let page = if name.ends_with(".gz") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).expect("gzip page");
            out
        } else {
            raw
        };
        pages.push(page);
    }
    Material { channel_head, items, pages }
}

/// Replaces the text between `open` and `close` (first occurrence) in `block`.
fn replace_element(block: &str, open: &str, close: &str, text: &str) -> String {
    match (block.find(open), block.find(close)) {
        (Some(start), Some(end)) if end > start => {
            let content_start = start + block[start..].find('>').map_or(open.len(), |at| at + 1);
            format!("{}{}{}", &block[..content_start], text, &block[end..])
        }
        _ => block.to_string(),
    }
}

impl Material {
    /// Item `item` of `feed` as an `<item>` block linking to `link`, dated `date`: a real item
    /// with a unique title (` [feed-item]`, so the feed's content fingerprint never calls two
    /// items duplicates) that carries the word `loadmark` for a quarter of the (feed, item)
    /// pairs, which the benchmarks' `load-marker` topic alerts on.
    pub fn item_block(&self, feed: usize, item: usize, link: &str, date: &str) -> String {
        let template = &self.items[item % self.items.len()];
        let mut block = replace_element(template, "<link>", "</link>", link);
        block = replace_element(&block, "<guid", "</guid>", link);
        block = replace_element(&block, "<pubDate>", "</pubDate>", date);
        let marker = if (feed + item).is_multiple_of(4) { " loadmark" } else { "" };
        let title_end = block.find("</title>").unwrap_or(0);
        block.insert_str(title_end, &format!(" [{feed}-{item}]{marker}"));
        block
    }

    /// The page served for `item` of `feed`.
    pub fn page(&self, feed: usize, item: usize) -> Vec<u8> {
        self.pages[(feed + item) % self.pages.len()].clone()
    }
}
