//! Prints the parsed tree of the HTML given as the first argument (a debugging aid).
fn main() {
    let html = std::env::args().nth(1).unwrap_or_default();
    let parsed = scraper::Html::parse_document(&html);
    let mut depth = 0usize;
    for edge in parsed.tree.root().traverse() {
        match edge {
            ego_tree::iter::Edge::Open(node) => {
                if let Some(element) = node.value().as_element() {
                    println!("{}{}", "  ".repeat(depth), element.name());
                    depth += 1;
                } else if let Some(text) = node.value().as_text() {
                    println!("{}{:?}", "  ".repeat(depth), &**text);
                }
            }
            ego_tree::iter::Edge::Close(node) => {
                if node.value().is_element() {
                    depth -= 1;
                }
            }
        }
    }
}
