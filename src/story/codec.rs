//! The stored form of a [`Fingerprint`]: a compact byte string the store keeps for every item
//! of the story window, so that start-up and look-ups of older items decode what was computed
//! once instead of fingerprinting the text again. No I/O; decoding untrusted bytes never panics
//! (a short, truncated or newer-version blob decodes to `None`).
//!
//! Layout (little-endian, lengths as LEB128 varints): version byte, flags byte (language, mode,
//! predicate, repeat), shingle count, link (length + UTF-8), terms (count, then hash u64 +
//! weight f32 each), actors (count, then hash u64 + count varint), venues (count + u64 each),
//! days (count + u16 each), MinHash signature (count + u32 each), headline stems (count + u64
//! each). About 12 bytes per distinct
//! term plus 512 for the signature: 2–4 KiB for a news article.

use super::{Fingerprint, Lang, Mode, Predicate};

/// The layout version written first; a blob of another version is not decoded.
const VERSION: u8 = 1;

/// The stored bytes of a fingerprint.
pub fn encode_fingerprint(fingerprint: &Fingerprint) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + fingerprint.terms.len() * 12 + fingerprint.minhash.len() * 4);
    out.push(VERSION);
    let lang = match fingerprint.lang {
        Lang::English => 0,
        Lang::Russian => 1,
    };
    let mode = match fingerprint.mode {
        Mode::Unknown => 0,
        Mode::Planned => 1,
        Mode::Happened => 2,
    };
    let predicate = match fingerprint.predicate {
        Predicate::Unknown => 0,
        Predicate::Call => 1,
        Predicate::Meeting => 2,
    };
    out.push(lang | mode << 1 | predicate << 3 | u8::from(fingerprint.repeat) << 5);
    put_varint(&mut out, u64::from(fingerprint.shingles));
    let url = fingerprint.url.as_deref().unwrap_or("");
    put_varint(&mut out, url.len() as u64);
    out.extend_from_slice(url.as_bytes());
    put_varint(&mut out, fingerprint.terms.len() as u64);
    for (term, weight) in &fingerprint.terms {
        out.extend_from_slice(&term.to_le_bytes());
        out.extend_from_slice(&weight.to_le_bytes());
    }
    put_varint(&mut out, fingerprint.actors.len() as u64);
    for (actor, count) in &fingerprint.actors {
        out.extend_from_slice(&actor.to_le_bytes());
        put_varint(&mut out, u64::from(*count));
    }
    put_varint(&mut out, fingerprint.venues.len() as u64);
    for venue in &fingerprint.venues {
        out.extend_from_slice(&venue.to_le_bytes());
    }
    put_varint(&mut out, fingerprint.days.len() as u64);
    for day in &fingerprint.days {
        out.extend_from_slice(&day.to_le_bytes());
    }
    put_varint(&mut out, fingerprint.minhash.len() as u64);
    for row in &fingerprint.minhash {
        out.extend_from_slice(&row.to_le_bytes());
    }
    put_varint(&mut out, fingerprint.headline.len() as u64);
    for term in &fingerprint.headline {
        out.extend_from_slice(&term.to_le_bytes());
    }
    out
}

/// The fingerprint stored as `bytes`, or `None` when they are not a whole blob of this version.
pub fn decode_fingerprint(bytes: &[u8]) -> Option<Fingerprint> {
    let mut reader = Reader { bytes };
    if reader.byte()? != VERSION {
        return None;
    }
    let flags = reader.byte()?;
    let lang = if flags & 1 == 0 { Lang::English } else { Lang::Russian };
    let mode = match (flags >> 1) & 3 {
        0 => Mode::Unknown,
        1 => Mode::Planned,
        2 => Mode::Happened,
        _ => return None,
    };
    let predicate = match (flags >> 3) & 3 {
        0 => Predicate::Unknown,
        1 => Predicate::Call,
        2 => Predicate::Meeting,
        _ => return None,
    };
    let repeat = flags & (1 << 5) != 0;
    let shingles = u32::try_from(reader.varint()?).ok()?;
    let url_len = reader.count(1)?;
    let url = std::str::from_utf8(reader.take(url_len)?).ok()?;
    let url = (!url.is_empty()).then(|| url.to_string());
    let terms = reader.list(12, |reader| Some((reader.u64()?, f32::from_le_bytes(reader.array()?))))?;
    let actors = reader.list(9, |reader| Some((reader.u64()?, u32::try_from(reader.varint()?).ok()?)))?;
    let venues = reader.list(8, Reader::u64)?;
    let days = reader.list(2, |reader| Some(u16::from_le_bytes(reader.array()?)))?;
    let minhash = reader.list(4, |reader| Some(u32::from_le_bytes(reader.array()?)))?;
    let headline = reader.list(8, Reader::u64)?;
    if !reader.bytes.is_empty() {
        return None;
    }
    Some(Fingerprint {
        url,
        terms,
        actors,
        headline,
        venues,
        days,
        mode,
        predicate,
        repeat,
        shingles,
        minhash,
        lang,
    })
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < len {
            return None;
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// A count of elements at least `min_bytes` long each: refused when the rest of the blob
    /// cannot hold them, so a corrupt count cannot make a huge allocation.
    fn count(&mut self, min_bytes: usize) -> Option<usize> {
        let count = usize::try_from(self.varint()?).ok()?;
        (count.checked_mul(min_bytes)? <= self.bytes.len()).then_some(count)
    }

    fn list<T>(&mut self, min_bytes: usize, mut read: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let count = self.count(min_bytes)?;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(read(self)?);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::story::fingerprint;

    fn same(left: &Fingerprint, right: &Fingerprint) -> bool {
        left.url == right.url
            && left.terms == right.terms
            && left.actors == right.actors
            && left.venues == right.venues
            && left.days == right.days
            && left.mode == right.mode
            && left.predicate == right.predicate
            && left.repeat == right.repeat
            && left.shingles == right.shingles
            && left.minhash == right.minhash
            && left.lang == right.lang
    }

    #[test]
    fn a_fingerprint_decodes_to_itself() {
        let printed = fingerprint(
            "Lavrov and Rubio to meet in Riyadh on Tuesday, again",
            "Russian Foreign Minister Sergei Lavrov will meet US Secretary of State Marco Rubio in \
             Riyadh on February 18, the Kremlin said. The talks are the first in years.",
            Some("https://www.example.com/world/lavrov-rubio?utm_source=x"),
        );
        assert!(!printed.terms.is_empty() && !printed.minhash.is_empty() && !printed.venues.is_empty());
        let decoded = decode_fingerprint(&encode_fingerprint(&printed)).expect("decodes");
        assert!(same(&printed, &decoded), "{printed:?}\n{decoded:?}");
        let russian = fingerprint("Лавров и Рубио провели телефонный разговор", "", None);
        let decoded = decode_fingerprint(&encode_fingerprint(&russian)).expect("decodes");
        assert!(same(&russian, &decoded));
    }

    #[test]
    fn damaged_bytes_decode_to_none() {
        let bytes = encode_fingerprint(&fingerprint("Putin and Trump spoke by phone", "They spoke.", None));
        for end in 0..bytes.len() {
            assert!(decode_fingerprint(&bytes[..end]).is_none(), "a blob cut at {end} decoded");
        }
        let mut newer = bytes.clone();
        newer[0] = VERSION + 1;
        assert!(decode_fingerprint(&newer).is_none());
        let mut longer = bytes;
        longer.push(0);
        assert!(decode_fingerprint(&longer).is_none());
        // A count far larger than the blob is refused before allocating.
        assert!(decode_fingerprint(&[VERSION, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_none());
    }
}
