//! Calendar arithmetic for timestamps we print (trace lines, file names),
//! without a date crate: days-since-epoch to civil date, UTC only; and the
//! day an RFC 5322 Date field names.

use std::time::{SystemTime, UNIX_EPOCH};

/// English month abbreviations, as IMAP and RFC 5322 dates use them.
pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A UTC instant broken into calendar fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl Utc {
    pub fn now() -> Utc {
        Utc::from_system_time(SystemTime::now())
    }

    pub fn from_system_time(t: SystemTime) -> Utc {
        let (secs, millis) = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => (d.as_secs() as i64, d.subsec_millis()),
            Err(e) => (-(e.duration().as_secs() as i64), 0),
        };
        Utc::from_unix(secs, millis)
    }

    pub fn from_unix(secs: i64, millis: u32) -> Utc {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        Utc {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
            millis,
        }
    }

    /// `HH:MM:SS.mmm`
    pub fn time_millis(&self) -> String {
        format!(
            "{:02}:{:02}:{:02}.{:03}",
            self.hour, self.minute, self.second, self.millis
        )
    }

    /// IMAP `date-time` (RFC 3501 §9): `17-Jul-1996 02:44:25 +0000`.
    pub fn imap_date_time(&self) -> String {
        format!(
            "{:02}-{}-{:04} {:02}:{:02}:{:02} +0000",
            self.day,
            MONTHS[self.month as usize - 1],
            self.year,
            self.hour,
            self.minute,
            self.second
        )
    }

    /// `YYYYMMDD-HHMMSS`, sortable, for file names.
    pub fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm). `month` 1–12.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days in a month of a year.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Howard Hinnant's days-from-civil inverse: proleptic Gregorian calendar.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[derive(Debug, PartialEq, Eq)]
enum DateTok<'a> {
    Num(&'a [u8]),
    Word(&'a [u8]),
    /// An atom of mixed letters, digits and symbols (a zone like `+0100`).
    Other(&'a [u8]),
    Punct(u8),
}

/// RFC 5322 atext.
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

fn date_tokens(v: &[u8]) -> Vec<DateTok<'_>> {
    let mut toks = Vec::new();
    let mut i = 0;
    let mut comment = 0usize;
    while i < v.len() {
        let b = v[i];
        if comment > 0 {
            match b {
                b'(' => comment += 1,
                b')' => comment -= 1,
                _ => {}
            }
            i += 1;
        } else if b == b'(' {
            comment = 1;
            i += 1;
        } else if b.is_ascii_whitespace() {
            i += 1;
        } else if is_atext(b) {
            // RFC 5322 atoms: "00:01+0000" has the atom "01+0000", not a
            // minute (the zone needs a blank before it), as Dovecot reads it.
            let start = i;
            while i < v.len() && is_atext(v[i]) {
                i += 1;
            }
            let atom = &v[start..i];
            toks.push(if atom.iter().all(u8::is_ascii_digit) {
                DateTok::Num(atom)
            } else if atom.iter().all(u8::is_ascii_alphabetic) {
                DateTok::Word(atom)
            } else {
                DateTok::Other(atom)
            });
        } else {
            toks.push(DateTok::Punct(b));
            i += 1;
        }
    }
    toks
}

fn date_num(t: Option<&DateTok>, max_len: usize) -> Option<(u32, usize)> {
    match t {
        Some(DateTok::Num(d)) if d.len() <= max_len => {
            Some((std::str::from_utf8(d).ok()?.parse().ok()?, d.len()))
        }
        _ => None,
    }
}

/// The day of an RFC 5322 Date field as written: SENTBEFORE and friends
/// compare the sender's calendar date, ignoring time and zone (RFC 3501
/// §6.4.4; Dovecot does the same). In days since 1970-01-01.
pub fn rfc5322_day(value: &[u8]) -> Option<i64> {
    rfc5322_fields(value).map(|f| f.day)
}

/// An RFC 5322 Date field as a UTC instant (seconds since the epoch), for
/// SORT (DATE) (RFC 5256 §3). A missing or unknown zone counts as UTC.
pub fn rfc5322_instant(value: &[u8]) -> Option<i64> {
    let f = rfc5322_fields(value)?;
    Some(f.day * 86_400 + f.seconds - f.zone_minutes * 60)
}

/// An RFC 5322 Date field as written: (days since 1970-01-01 of its
/// calendar date, seconds into that day, zone offset east of UTC in
/// minutes), for Sieve's `date` test (RFC 5260), which reads each part.
pub fn rfc5322_local(value: &[u8]) -> Option<(i64, i64, i64)> {
    rfc5322_fields(value).map(|f| (f.day, f.seconds, f.zone_minutes))
}

/// What an RFC 5322 date says, as written.
struct DateFields {
    /// Days since 1970-01-01 of the calendar date.
    day: i64,
    /// Seconds into that day.
    seconds: i64,
    /// The zone's offset east of UTC.
    zone_minutes: i64,
}

/// Accepts `[day-name ","] day month year hour ":" minute [":" second]
/// [zone]` with comments anywhere, month names of three letters or more,
/// and two-digit years (below 70 is 20xx). Anything else, or an
/// impossible date, is `None`.
fn rfc5322_fields(value: &[u8]) -> Option<DateFields> {
    let toks = date_tokens(value);
    let mut t = toks.iter().peekable();
    if let Some(DateTok::Word(_)) = t.peek() {
        t.next();
        if t.next() != Some(&DateTok::Punct(b',')) {
            return None;
        }
    }
    let (day, _) = date_num(t.next(), 2)?;
    let month = match t.next() {
        Some(DateTok::Word(w)) if w.len() >= 3 => {
            MONTHS
                .iter()
                .position(|m| m.as_bytes().eq_ignore_ascii_case(&w[..3]))? as u32
                + 1
        }
        _ => return None,
    };
    let year = match date_num(t.next(), 4)? {
        (y, 2) if y < 70 => 2000 + y,
        (y, 2) => 1900 + y,
        (y, 4) => y,
        _ => return None,
    };
    let (hour, _) = date_num(t.next(), 2)?;
    if t.next() != Some(&DateTok::Punct(b':')) {
        return None;
    }
    let (minute, _) = date_num(t.next(), 2)?;
    let second = if t.peek() == Some(&&DateTok::Punct(b':')) {
        t.next();
        date_num(t.next(), 2)?.0
    } else {
        0
    };
    let year = i64::from(year);
    if day == 0 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let zone_minutes = match t.next() {
        Some(DateTok::Other(z)) | Some(DateTok::Num(z)) => numeric_zone(z).unwrap_or(0),
        Some(DateTok::Word(w)) => named_zone(w),
        _ => 0,
    };
    Some(DateFields {
        day: days_from_civil(year, month, day),
        seconds: i64::from(hour * 3600 + minute * 60 + second),
        zone_minutes,
    })
}

/// `+hhmm` / `-hhmm` in minutes east of UTC.
fn numeric_zone(z: &[u8]) -> Option<i64> {
    let (sign, digits) = match z.split_first()? {
        (b'+', d) => (1, d),
        (b'-', d) => (-1, d),
        _ => return None,
    };
    if digits.len() != 4 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: i64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(sign * ((n / 100) * 60 + n % 100))
}

/// RFC 5322 §4.3 obsolete zone names; others (military letters) are UTC.
fn named_zone(w: &[u8]) -> i64 {
    let hours = match w.to_ascii_uppercase().as_slice() {
        b"EDT" => -4,
        b"EST" | b"CDT" => -5,
        b"CST" | b"MDT" => -6,
        b"MST" | b"PDT" => -7,
        b"PST" => -8,
        _ => 0,
    };
    hours * 60
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        let rows = [
            (0, (1970, 1, 1, 0, 0, 0)),
            (951_782_400, (2000, 2, 29, 0, 0, 0)),
            (1_720_755_020, (2024, 7, 12, 3, 30, 20)),
            (4_102_444_799, (2099, 12, 31, 23, 59, 59)),
            (-1, (1969, 12, 31, 23, 59, 59)),
        ];
        for (secs, (y, mo, d, h, mi, s)) in rows {
            let u = Utc::from_unix(secs, 0);
            assert_eq!(
                (u.year, u.month, u.day, u.hour, u.minute, u.second),
                (y, mo, d, h, mi, s),
                "{secs}"
            );
        }
        assert_eq!(
            Utc::from_unix(1_720_755_020, 7).time_millis(),
            "03:30:20.007"
        );
        assert_eq!(
            Utc::from_unix(1_720_755_020, 0).compact(),
            "20240712-033020"
        );
    }

    #[test]
    fn rfc5322_days() {
        let feb5 = Some(days_from_civil(1994, 2, 5));
        for ok in [
            "Mon, 5 Feb 1994 23:30:00 -0800",
            "5 Feb 94 23:30:00 -0800",
            "5 Feb 1994 23:30",
            "5 feb 1994 23:30:00 EST",
            "Mon,  05 February 1994 23:30:00 +0000 (PST)",
            "(comment) 5 Feb 1994 23:30:00 +9999",
        ] {
            assert_eq!(rfc5322_day(ok.as_bytes()), feb5, "{ok}");
        }
        let day = |s: &str| rfc5322_day(s.as_bytes());
        assert_eq!(day("5 Feb 69 1:00"), Some(days_from_civil(2069, 2, 5)));
        // Outside 1970-2038 is no special case (RFC 5322 §3.3).
        assert_eq!(day("1 Dec 1969 10:00"), Some(-31));
        assert_eq!(day("1 Jan 3609 10:00"), Some(days_from_civil(3609, 1, 1)));
        for bad in [
            "5 Feb 1994",
            "garbage",
            "5 Feb 1994 25:30:00",
            "31 Feb 1994 10:00:00",
            "1994-02-05T10:00:00Z",
            "5 Feb 123 23:30:00",
            "Sat 5 Feb 1994 23:30:00",
            "5-Feb-1994 23:30:00",
            "01 Jan 2001 00:01+0000",
            "",
        ] {
            assert_eq!(day(bad), None, "{bad}");
        }
    }
}
