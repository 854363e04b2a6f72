//! The typed request inputs every stage agrees on: a decoded request, its claims, and the claims schema.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// The type of a claim in a claims schema (DESIGN §2, §7.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClaimType {
    String,
    Int,
    Bool,
    /// A JWT NumericDate, Unix seconds (fractional values rounded down).
    Time,
    /// `set<string>`; a string claim for a set is a one-element set.
    Set,
}

impl ClaimType {
    /// The spelling used by the manifest's `claims` list.
    pub fn manifest_name(self) -> &'static str {
        match self {
            ClaimType::String => "string",
            ClaimType::Int => "int",
            ClaimType::Bool => "bool",
            ClaimType::Time => "time",
            ClaimType::Set => "set",
        }
    }
}

/// One declared claim of the policy's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimDecl {
    pub name: String,
    pub ty: ClaimType,
    pub optional: bool,
}

/// A claim value after conversion to its declared type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimValue {
    String(String),
    Int(i64),
    Bool(bool),
    /// Unix seconds.
    Time(i64),
    Set(Vec<String>),
}

/// The claims of a token, typed by the schema; absent claims are absent.
pub type Claims = BTreeMap<String, ClaimValue>;

/// A request as the policy sees it, after the token has been verified.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The method, as the Worker's runtime hands it over (see [`normalize_method`]).
    pub method: String,
    /// Lowercase host without port.
    pub host: String,
    /// The WHATWG URL pathname, not normalised in any other way.
    pub path: String,
    /// Unix seconds.
    pub time: i64,
    pub ip: Option<IpAddr>,
    pub country: Option<String>,
    /// Shared: a token's typed claims are made once and reused by every request it carries.
    pub claims: Arc<Claims>,
}

impl Request {
    /// The claims, to change (copied first when shared).
    pub fn claims_mut(&mut self) -> &mut Claims {
        Arc::make_mut(&mut self.claims)
    }
}

/// A method as the Worker's runtime hands it over: the methods that Fetch normalises (`DELETE`,
/// `GET`, `HEAD`, `OPTIONS`, `POST`, `PUT`), and `PATCH` as workerd does too, in uppercase
/// whatever their case; any other method as written.
pub fn normalize_method(method: &str) -> std::borrow::Cow<'_, str> {
    const NORMALISED: [&str; 7] = ["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"];
    match NORMALISED.iter().find(|m| m.eq_ignore_ascii_case(method)) {
        Some(m) if *m != method => std::borrow::Cow::Borrowed(m),
        _ => std::borrow::Cow::Borrowed(method),
    }
}

/// The pathname of `url`, an absolute `http`/`https` URL (one `url::Url::parse` took), as the
/// WHATWG URL Standard's parser produces it today, and so as the Worker's `new URL()` does.
///
/// Written here rather than taken from the `url` crate (2.5.8), which departs from the standard
/// in two ways: it keeps a Windows drive letter segment (`/c:/../admin` is `/c:/admin`, where the
/// standard applies that quirk to `file:` URLs only and gives `/admin`), and it leaves `^`
/// unencoded (the standard added it to the path percent-encode set in 2025).
pub fn url_path(url: &str) -> String {
    // The parser's input: C0 controls and spaces trimmed from both ends, tabs and newlines removed.
    let cleaned: String = url
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let is_slash = |c: char| c == '/' || c == '\\';
    // After the scheme, a special URL skips any slashes; its authority ends at `/ \ ? #`.
    let after_scheme = cleaned.split_once(':').map_or("", |(_, rest)| rest);
    let authority_and_rest = after_scheme.trim_start_matches(is_slash);
    let rest = authority_and_rest
        .find(|c: char| is_slash(c) || c == '?' || c == '#')
        .map_or("", |at| authority_and_rest.get(at..).unwrap_or_default());
    let path = rest
        .find(['?', '#'])
        .map_or(rest, |end| rest.get(..end).unwrap_or_default());
    // The path state: segments between slashes, dot segments resolved, each percent-encoded.
    let mut segments: Vec<String> = Vec::new();
    let raw: Vec<&str> = path.split(is_slash).collect();
    // A path that is not empty starts with a slash, so the first piece is empty and not a segment;
    // an empty path is one empty segment.
    let pieces = if path.is_empty() {
        &raw[..]
    } else {
        raw.get(1..).unwrap_or_default()
    };
    for (i, piece) in pieces.iter().enumerate() {
        let last = i + 1 == pieces.len();
        let buffer = encode_path_segment(piece);
        if is_double_dot(&buffer) {
            segments.pop();
            if last {
                segments.push(String::new());
            }
        } else if is_single_dot(&buffer) {
            if last {
                segments.push(String::new());
            }
        } else {
            segments.push(buffer);
        }
    }
    format!("/{}", segments.join("/"))
}

/// `.` or `%2e` (any case).
pub fn is_single_dot(s: &str) -> bool {
    s == "." || s.eq_ignore_ascii_case("%2e")
}

/// `..`, `.%2e`, `%2e.` or `%2e%2e` (any case).
pub fn is_double_dot(s: &str) -> bool {
    matches!(
        s.to_ascii_lowercase().as_str(),
        ".." | ".%2e" | "%2e." | "%2e%2e"
    )
}

/// A path segment UTF-8 percent-encoded with the path percent-encode set: C0 controls, space,
/// `"`, `#`, `<`, `>`, `?`, `^`, `` ` ``, `{`, `}`, and everything above `~`.
pub fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for c in segment.chars() {
        let keep = matches!(c, '!'..='~')
            && !matches!(c, '"' | '#' | '<' | '>' | '?' | '^' | '`' | '{' | '}');
        if keep {
            out.push(c);
        } else {
            let mut bytes = [0u8; 4];
            for b in c.encode_utf8(&mut bytes).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// Parses an RFC 3339 time to Unix seconds, fractional seconds rounded down.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Some(t) = plain_utc(s) {
        return Some(t);
    }
    let t = time::OffsetDateTime::parse(s, &Rfc3339).ok()?;
    Some(t.unix_timestamp())
}

/// `YYYY-MM-DDTHH:MM:SSZ` exactly, a valid date and time (no leap second), read without the
/// general parser; `None` for anything else.
fn plain_utc(s: &str) -> Option<i64> {
    // Eight bytes at a time: the separators compared under a mask, every other byte checked to
    // be a digit, then the digits read off.
    let b: &[u8; 20] = s.as_bytes().try_into().ok()?;
    let (lo, rest) = b.split_first_chunk::<8>()?;
    let (mid, hi) = rest.split_first_chunk::<8>()?;
    let &[c, s0, s1, z] = hi else {
        return None;
    };
    let lo = digits(u64::from_le_bytes(*lo), *b"\0\0\0\0-\0\0-")?;
    let mid = digits(u64::from_le_bytes(*mid), *b"\0\0T\0\0:\0\0")?;
    // the last four bytes, padded with digits
    let hi = digits(
        u64::from_le_bytes([c, s0, s1, z, b'0', b'0', b'0', b'0']),
        *b":\0\0Z\0\0\0\0",
    )?;
    let [y0, y1, y2, y3, _, m0, m1, _] = lo.to_le_bytes().map(i64::from);
    let [d0, d1, _, h0, h1, _, i0, i1] = mid.to_le_bytes().map(i64::from);
    let [_, s0, s1, ..] = hi.to_le_bytes().map(i64::from);
    let (year, month, day) = (
        y0 * 1000 + y1 * 100 + y2 * 10 + y3,
        m0 * 10 + m1,
        d0 * 10 + d1,
    );
    let (hour, minute, second) = (h0 * 10 + h1, i0 * 10 + i1, s0 * 10 + s1);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days from 1970-01-01 (Howard Hinnant's `days_from_civil`).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// The eight bytes of `w` (little-endian) as digit values, when the bytes where `seps` is not
/// zero are those separators and every other byte of `w` is an ASCII digit; `None` otherwise. (A
/// byte is a digit when its high nibble is 3 both as it is and with 6 added: no carry crosses
/// bytes, since no such byte exceeds 0x3F.)
fn digits(w: u64, seps: [u8; 8]) -> Option<u64> {
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const SIXES: u64 = 0x0606_0606_0606_0606;
    let mask = u64::from_le_bytes(seps.map(|c| if c == 0 { 0 } else { 0xFF }));
    let seps = u64::from_le_bytes(seps);
    if w & mask != seps {
        return None;
    }
    let d = (w & !mask) | (ZEROS & mask);
    (d & HIGH == ZEROS && (d + SIXES) & HIGH == ZEROS).then(|| d - ZEROS)
}

/// Formats Unix seconds as RFC 3339 UTC to the second (`2026-11-28T10:00:00Z`).
pub fn format_rfc3339(secs: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// `text` without a byte order mark opening it (some Windows editors write one): it is not part of
/// a policy, a JSON document or a catalog file.
pub fn without_bom(text: String) -> String {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    }
}
