//! Lenient date parsing for feed timestamps: RFC 3339 / W3C-DTF / ISO 8601 and their sloppy
//! cousins (space instead of `T`, no seconds, no zone, `+0100`, date only), RFC 822/2822 with
//! two-digit years, long or localised month names, wrong weekdays and named zones, asctime, and
//! numeric `2004/01/02` or `02.01.2004` forms. Times without a zone are taken as UTC. No I/O.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// Parses a feed timestamp; `None` when nothing date-like is found.
pub(crate) fn parse_date(raw: &str) -> Option<DateTime<Utc>> {
    let text = raw.trim();
    if text.is_empty() || text.len() > 100 {
        return None;
    }
    parse_iso(text).or_else(|| parse_tokens(text))
}

/// `YYYY-MM-DD[(T| )HH:MM[:SS[.frac]]][zone]`, `YYYYMMDD[THHMMSS]`, `YYYY-MM`, `YYYY`.
fn parse_iso(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let mut cursor = Cursor { bytes, pos: 0 };
    let year = cursor.digits(4, 4)?;
    let compact = cursor.peek().is_some_and(|b| b.is_ascii_digit());
    let (month, day) = if compact {
        let month = cursor.digits(2, 2)?;
        let day = cursor.digits(2, 2)?;
        (month, day)
    } else if cursor.eat(b'-') {
        let month = cursor.digits(1, 2)?;
        let day = if cursor.eat(b'-') { cursor.digits(1, 2)? } else { 1 };
        (month, day)
    } else {
        (1, 1)
    };
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let mut time = NaiveTime::MIN;
    if cursor.eat(b'T') || cursor.eat(b't') || cursor.eat(b' ') {
        let hour = cursor.digits(1, 2)?;
        let compact_time = !cursor.eat(b':');
        let minute = cursor.digits(2, 2)?;
        let mut second = 0;
        if (compact_time && cursor.peek().is_some_and(|b| b.is_ascii_digit())) || cursor.eat(b':') {
            second = cursor.digits(2, 2)?;
            if cursor.eat(b'.') || cursor.eat(b',') {
                while cursor.peek().is_some_and(|b| b.is_ascii_digit()) {
                    cursor.pos += 1;
                }
            }
        }
        time = hms(hour, minute, second)?;
    }
    let rest = text[cursor.pos..].trim();
    let offset_seconds = if rest.is_empty() { 0 } else { parse_zone(rest)? };
    finish(date.and_time(time), offset_seconds)
}

/// Everything else: words and numbers in any order.
fn parse_tokens(text: &str) -> Option<DateTime<Utc>> {
    let mut year = None;
    let mut month = None;
    let mut day = None;
    let mut time = None;
    let mut offset_seconds = 0;
    let mut pm = None;
    let mut numbers = Vec::new();
    // Split on spaces and commas; keep "+0100" and "12:00:00" tokens whole.
    for token in text.split(|c: char| c.is_whitespace() || c == ',').filter(|t| !t.is_empty()) {
        let token = token.trim_end_matches('.');
        if token.contains(':') && token.as_bytes()[0].is_ascii_digit() {
            let (clock, zone) = split_clock_zone(token);
            let mut parts = clock.split(':');
            let hour = parts.next()?.parse().ok()?;
            let minute = parts.next()?.parse().ok()?;
            let second: u32 = parts.next().map_or(Some(0), |s| s.split('.').next()?.parse().ok())?;
            time = Some((hour, minute, second.min(59)));
            if let Some(zone) = zone {
                offset_seconds = parse_zone(zone)?;
            }
        } else if token.starts_with(['+', '-']) && token.len() >= 3 {
            offset_seconds = parse_zone(token)?;
        } else if token.chars().all(|c| c.is_ascii_digit()) {
            numbers.push(token);
        } else if token.contains(['/', '.', '-']) && token.as_bytes()[0].is_ascii_digit() {
            let (y, m, d) = parse_numeric_date(token)?;
            year = Some(y);
            month = Some(m);
            day = Some(d);
        } else if let Some(found) = month_number(token) {
            month = Some(found);
        } else {
            let lower = token.to_ascii_lowercase();
            match lower.as_str() {
                "am" | "a.m" => pm = Some(false),
                "pm" | "p.m" => pm = Some(true),
                _ => {
                    if let Some(zone) = zone_offset(&lower) {
                        offset_seconds = zone;
                    }
                    // Weekday names and other words carry no date information.
                }
            }
        }
    }
    for number in numbers {
        let value: u32 = number.parse().ok()?;
        if number.len() == 4 && year.is_none() {
            year = Some(value as i32);
        } else if number.len() == 4 && time.is_none() && value % 100 < 60 && value / 100 < 24 {
            // "03 Apr 02 1500 GMT": a clock without its colon.
            time = Some((value / 100, value % 100, 0));
        } else if day.is_none() && (1..=31).contains(&value) && number.len() <= 2 {
            day = Some(value);
        } else if year.is_none() && number.len() == 2 {
            year = Some(two_digit_year(value));
        }
    }
    let date = NaiveDate::from_ymd_opt(year?, month?, day.unwrap_or(1))?;
    let (mut hour, minute, second) = time.unwrap_or((0, 0, 0));
    match pm {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        _ => {}
    }
    finish(date.and_time(hms(hour, minute, second)?), offset_seconds)
}

/// `2004/01/02`, `2004-1-2`, `02.01.2004`, `01/02/2004` (day first unless impossible).
fn parse_numeric_date(token: &str) -> Option<(i32, u32, u32)> {
    let parts: Vec<&str> = token.split(['/', '.', '-']).collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit())) {
        return None;
    }
    let values: Vec<u32> = parts.iter().map(|p| p.parse().ok()).collect::<Option<_>>()?;
    if parts[0].len() == 4 {
        return Some((values[0] as i32, values[1], values[2]));
    }
    let year = if parts[2].len() == 4 { values[2] as i32 } else { two_digit_year(values[2]) };
    // Day first (most of the world) unless the first number cannot be a day... or the second
    // cannot be a month (US order, e.g. 12/25/2004).
    if values[1] > 12 { Some((year, values[0], values[1])) } else { Some((year, values[1], values[0])) }
}

/// Splits `12:00:00Z` or `12:00:00+01:00` into the clock and the zone.
fn split_clock_zone(token: &str) -> (&str, Option<&str>) {
    match token.find(|c: char| c == '+' || c == '-' || c.is_ascii_alphabetic()) {
        Some(index) => (&token[..index], Some(&token[index..])),
        None => (token, None),
    }
}

fn two_digit_year(value: u32) -> i32 {
    if value < 50 {
        2000 + value as i32
    } else if value < 100 {
        1900 + value as i32
    } else {
        value as i32
    }
}

fn hms(hour: u32, minute: u32, second: u32) -> Option<NaiveTime> {
    // "24:00" appears in feeds for midnight; leap seconds are clamped.
    let hour = if hour == 24 { 0 } else { hour };
    NaiveTime::from_hms_opt(hour, minute, second.min(59))
}

fn finish(local: NaiveDateTime, offset_seconds: i32) -> Option<DateTime<Utc>> {
    let utc = local.checked_sub_signed(chrono::Duration::seconds(i64::from(offset_seconds)))?;
    Some(Utc.from_utc_datetime(&utc))
}

/// `Z`, `UTC`, `GMT`, `+01:00`, `+0100`, `-05`, `EST`, military letters; seconds east of UTC.
fn parse_zone(zone: &str) -> Option<i32> {
    let zone = zone.trim();
    if let Some(sign) = zone.chars().next().filter(|c| *c == '+' || *c == '-') {
        let digits: String = zone[1..].chars().filter(char::is_ascii_digit).collect();
        let (hours, minutes) = match digits.len() {
            1 | 2 => (digits.parse::<i32>().ok()?, 0),
            3 => (digits[..1].parse::<i32>().ok()?, digits[1..].parse::<i32>().ok()?),
            4 => (digits[..2].parse::<i32>().ok()?, digits[2..].parse::<i32>().ok()?),
            _ => return None,
        };
        if hours > 14 || minutes > 59 {
            return None;
        }
        let seconds = hours * 3600 + minutes * 60;
        return Some(if sign == '-' { -seconds } else { seconds });
    }
    zone_offset(&zone.to_ascii_lowercase())
}

/// Named zones seen in feeds. Ambiguous abbreviations take their most common meaning.
fn zone_offset(lower: &str) -> Option<i32> {
    let hours = match lower {
        "z" | "ut" | "utc" | "gmt" | "wet" => 0,
        "bst" | "cet" | "met" | "west" => 1,
        "cest" | "eet" | "mest" => 2,
        "eest" | "msk" => 3,
        "edt" => -4,
        "est" | "cdt" => -5,
        "cst" | "mdt" => -6,
        "mst" | "pdt" => -7,
        "pst" => -8,
        "akst" => -9,
        "hst" => -10,
        "jst" | "kst" => 9,
        "ist" => return Some(5 * 3600 + 1800),
        "aest" => 10,
        "aedt" => 11,
        _ => return None,
    };
    Some(hours * 3600)
}

/// Month names and abbreviations in the languages of the feeds we watch (en, de, fr, es, it, pt,
/// ru transliterations are rare; Cyrillic month names are included in genitive form).
fn month_number(token: &str) -> Option<u32> {
    let lower = token.to_lowercase();
    let lower = lower.trim_end_matches('.');
    const MONTHS: &[(&str, u32)] = &[
        ("jan", 1),
        ("feb", 2),
        ("fév", 2),
        ("fev", 2),
        ("mar", 3),
        ("mär", 3),
        ("apr", 4),
        ("avr", 4),
        ("abr", 4),
        ("may", 5),
        ("mai", 5),
        ("mag", 5),
        ("mayo", 5),
        ("jun", 6),
        ("juin", 6),
        ("giu", 6),
        ("jul", 7),
        ("juil", 7),
        ("lug", 7),
        ("aug", 8),
        ("août", 8),
        ("ago", 8),
        ("sep", 9),
        ("set", 9),
        ("oct", 10),
        ("okt", 10),
        ("ott", 10),
        ("out", 10),
        ("nov", 11),
        ("dec", 12),
        ("dez", 12),
        ("déc", 12),
        ("dic", 12),
        ("ene", 1),
        ("gen", 1),
        ("janv", 1),
        ("févr", 2),
        ("mars", 3),
        ("juli", 7),
        ("juni", 6),
        ("januar", 1),
        ("februar", 2),
        ("märz", 3),
        ("maerz", 3),
        ("янв", 1),
        ("фев", 2),
        ("мар", 3),
        ("апр", 4),
        ("мая", 5),
        ("май", 5),
        ("июн", 6),
        ("июл", 7),
        ("авг", 8),
        ("сен", 9),
        ("окт", 10),
        ("ноя", 11),
        ("дек", 12),
    ];
    // Exact match first (so "mayo"/"mars" resolve), then a three-letter prefix of English names
    // ("January", "Sept", "Thurs" is not a month because weekdays never match a month prefix).
    if let Some((_, number)) = MONTHS.iter().find(|(name, _)| *name == lower) {
        return Some(*number);
    }
    let prefix: String = lower.chars().take(3).collect();
    if lower.chars().count() >= 3 && lower.chars().all(char::is_alphabetic) {
        return MONTHS.iter().find(|(name, _)| *name == prefix).map(|(_, n)| *n);
    }
    None
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Reads between `min` and `max` ASCII digits.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let start = self.pos;
        while self.pos - start < max && self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos - start < min {
            return None;
        }
        std::str::from_utf8(&self.bytes[start..self.pos]).ok()?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(text: &str) -> String {
        parse_date(text).map(|d| d.to_rfc3339()).unwrap_or_else(|| "none".into())
    }

    #[test]
    fn rfc3339_and_iso_variants() {
        assert_eq!(iso("2025-02-18T10:30:00Z"), "2025-02-18T10:30:00+00:00");
        assert_eq!(iso("2025-02-18T12:30:00+02:00"), "2025-02-18T10:30:00+00:00");
        assert_eq!(iso("2025-02-18T12:30:00.123+0200"), "2025-02-18T10:30:00+00:00");
        assert_eq!(iso("2025-02-18 10:30"), "2025-02-18T10:30:00+00:00");
        assert_eq!(iso("2025-02-18"), "2025-02-18T00:00:00+00:00");
        assert_eq!(iso("2025-02"), "2025-02-01T00:00:00+00:00");
        assert_eq!(iso("20250218T103000Z"), "2025-02-18T10:30:00+00:00");
        assert_eq!(iso("2025-02-18T10:30:00-05"), "2025-02-18T15:30:00+00:00");
    }

    #[test]
    fn rfc822_variants() {
        assert_eq!(iso("Tue, 18 Feb 2025 10:30:00 GMT"), "2025-02-18T10:30:00+00:00");
        assert_eq!(iso("Tue, 18 Feb 2025 10:30:00 +0300"), "2025-02-18T07:30:00+00:00");
        assert_eq!(iso("Thurs, 18 February 2025 10:30 EST"), "2025-02-18T15:30:00+00:00");
        assert_eq!(iso("18 Feb 25 10:30:00 Z"), "2025-02-18T10:30:00+00:00");
        assert_eq!(iso("Tue, 8 Feb 2005 9:05:00 PDT"), "2005-02-08T16:05:00+00:00");
        assert_eq!(iso("Wed, 25 Aug 2012 24:00:00 UTC"), "2012-08-25T00:00:00+00:00");
        assert_eq!(iso("03 Apr 02 1500 GMT"), "2002-04-03T15:00:00+00:00");
    }

    #[test]
    fn other_common_forms() {
        assert_eq!(iso("Thu Jan  1 19:48:21 2004"), "2004-01-01T19:48:21+00:00");
        assert_eq!(iso("February 18, 2025 3:04 pm"), "2025-02-18T15:04:00+00:00");
        assert_eq!(iso("2025/02/18 10:30:00"), "2025-02-18T10:30:00+00:00");
        assert_eq!(iso("18.02.2025 10:30"), "2025-02-18T10:30:00+00:00");
        assert_eq!(iso("18 févr. 2025 10:30:00 +0100"), "2025-02-18T09:30:00+00:00");
        assert_eq!(iso("18 марта 2025 10:30"), "2025-03-18T10:30:00+00:00");
    }

    #[test]
    fn garbage_is_none() {
        for text in [
            "",
            "yesterday",
            "99/99/9999",
            "Tue, 31 Feb 2025 10:00:00 GMT",
            "2025-13-01",
            "x".repeat(200).as_str(),
        ] {
            assert_eq!(parse_date(text), None, "{text}");
        }
    }
}
