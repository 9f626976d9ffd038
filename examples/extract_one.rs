//! Prints the extraction of one page file as JSON (a debugging aid).
fn main() -> anyhow::Result<()> {
    let files: Vec<std::path::PathBuf> = std::env::args().skip(1).map(Into::into).collect();
    let mut out = std::io::stdout();
    newswatch::extract::extract_files(&files, None, None, &mut out)?;
    Ok(())
}
