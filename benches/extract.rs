//! Parse-speed probe (temporary).
use std::io::Read;
use std::time::Instant;
fn main() {
    let dir = std::env::args().nth(1).unwrap_or("../shared/datasets/extraction/html".into());
    let mut pages = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let mut s = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&p).unwrap()).read_to_string(&mut s).unwrap();
        pages.push(s);
    }
    let total: usize = pages.iter().map(|p| p.len()).sum();
    let t = Instant::now();
    let mut n = 0;
    for _ in 0..3 {
        for p in &pages {
            let h = scraper::Html::parse_document(p);
            n += h.tree.nodes().count();
        }
    }
    let e = t.elapsed().as_secs_f64();
    println!(
        "{} pages x3, {} bytes, {:.1} pages/s, {:.1} MB/s, nodes {}",
        pages.len(),
        total,
        3.0 * pages.len() as f64 / e,
        3.0 * total as f64 / e / 1e6,
        n
    );
}
