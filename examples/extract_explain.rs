//! Prints the content scores of one page's elements, to see why the extractor chose its
//! container: `cargo run --example extract_explain -- page.html[.gz]`.

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: extract_explain PAGE"))?;
    let bytes = newswatch::cli::tools::read_page(std::path::Path::new(&path))?;
    print!("{}", newswatch::extract::explain(&bytes));
    Ok(())
}
