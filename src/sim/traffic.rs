//! The recorded-traffic reader: JSON Lines of requests with their tokens (DESIGN §4), streamed line by line.

use std::borrow::Cow;
use std::io::BufRead;
use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::input::Request;

/// One readable line of recorded traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The line number, from 1.
    pub line: u64,
    /// Unix seconds; fractional seconds are rounded down.
    pub time: i64,
    /// As recorded.
    pub method: String,
    /// As recorded.
    pub url: String,
    pub parsed: ParsedUrl,
    /// The token of the first source present (`jwt`, `cf-access-jwt-assertion`,
    /// `authorization: Bearer`, the `CF_Authorization` cookie), even when it is
    /// empty (`Some("")`) or invalid; `None` when there is no source.
    pub token: Option<String>,
    /// An IPv4-mapped IPv6 address is that IPv4 address.
    pub ip: Option<IpAddr>,
    pub country: Option<String>,
}

impl RecordedRequest {
    /// The request the policy sees (method as recorded, host and path from the URL, no claims
    /// yet), with the token and the URL as recorded.
    pub fn into_parts(self) -> (Request, Option<String>, String) {
        let request = Request {
            method: self.method,
            host: self.parsed.host,
            path: self.parsed.path,
            time: self.time,
            ip: self.ip,
            country: self.country,
            claims: Default::default(),
        };
        (request, self.token, self.url)
    }
}

/// The parts of the URL the policy sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl {
    /// Lowercase, without port (an IPv6 host keeps its brackets).
    pub host: String,
    /// The WHATWG URL pathname, as the `url` crate produces it.
    pub path: String,
}

/// Why a line cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UnreadableKind {
    Blank,
    NotUtf8,
    NotJson,
    NotObject,
    MissingTime,
    MissingMethod,
    MissingUrl,
    MethodNotString,
    UrlNotString,
    UrlNotAbsolute,
    UrlNotHttp,
    BadTime,
    BadIp,
    CountryNotString,
    JwtNotString,
    /// Reading the file failed; no line follows.
    Io,
}

impl UnreadableKind {
    /// A short snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            UnreadableKind::Blank => "blank",
            UnreadableKind::NotUtf8 => "not_utf8",
            UnreadableKind::NotJson => "not_json",
            UnreadableKind::NotObject => "not_object",
            UnreadableKind::MissingTime => "missing_time",
            UnreadableKind::MissingMethod => "missing_method",
            UnreadableKind::MissingUrl => "missing_url",
            UnreadableKind::MethodNotString => "method_not_string",
            UnreadableKind::UrlNotString => "url_not_string",
            UnreadableKind::UrlNotAbsolute => "url_not_absolute",
            UnreadableKind::UrlNotHttp => "url_not_http",
            UnreadableKind::BadTime => "bad_time",
            UnreadableKind::BadIp => "bad_ip",
            UnreadableKind::CountryNotString => "country_not_string",
            UnreadableKind::JwtNotString => "jwt_not_string",
            UnreadableKind::Io => "io",
        }
    }
}

/// A line that cannot be read: its number and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {error}")]
pub struct Unreadable {
    pub line: u64,
    pub kind: UnreadableKind,
    /// Why, in words for a report.
    pub error: String,
}

impl Unreadable {
    fn new(line: u64, kind: UnreadableKind, error: impl Into<String>) -> Self {
        Unreadable {
            line,
            kind,
            error: error.into(),
        }
    }
}

/// A line as it nearly always is: every field a plain string (`ip` and `country` may be missing
/// or `null`), the token in `jwt`. Strings without escapes are borrowed from the line.
#[derive(serde::Deserialize)]
struct Plain<'a> {
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    url: Cow<'a, str>,
    #[serde(borrow)]
    jwt: Cow<'a, str>,
    #[serde(default, borrow)]
    ip: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    country: Option<Cow<'a, str>>,
}

/// Reads one line (without its line ending) numbered `line_no`.
pub fn parse_line(line_no: u64, bytes: &[u8]) -> Result<RecordedRequest, Unreadable> {
    use UnreadableKind as K;
    let fail = |kind, error: &str| Unreadable::new(line_no, kind, error);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(fail(K::Blank, "blank line"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| fail(K::NotUtf8, "not UTF-8"))?;
    // A byte order mark opening the file is not part of the JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Anything else (a missing or mistyped field, headers instead of `jwt`, a key twice) takes
    // the general path below, which names what is wrong; both read a plain line alike.
    // (Only for an object: serde would also read a struct from an array.)
    let object = text.trim_start().starts_with('{');
    if let Some(plain) = object
        .then(|| serde_json::from_str::<Plain<'_>>(text).ok())
        .flatten()
    {
        let (parsed, time) = url_and_time(line_no, &plain.url, Some(&plain.time))?;
        return Ok(RecordedRequest {
            line: line_no,
            time,
            method: plain.method.into_owned(),
            url: plain.url.into_owned(),
            parsed,
            token: Some(plain.jwt.into_owned()),
            ip: plain
                .ip
                .as_deref()
                .map(|ip| ip_of(line_no, ip))
                .transpose()?,
            country: plain.country.map(Cow::into_owned),
        });
    }
    parse_general(line_no, text)
}

/// [`parse_line`] without its fast path for plain lines, on a line known to be UTF-8 text (a byte
/// order mark stripped): every line, plain or not, reads the same on both.
pub fn parse_general(line_no: u64, text: &str) -> Result<RecordedRequest, Unreadable> {
    use UnreadableKind as K;
    let fail = |kind, error: &str| Unreadable::new(line_no, kind, error);
    let value: Value = serde_json::from_str(text).map_err(|_| fail(K::NotJson, "not JSON"))?;
    let Value::Object(obj) = value else {
        return Err(fail(K::NotObject, "not a JSON object"));
    };

    let time = obj
        .get("time")
        .ok_or_else(|| fail(K::MissingTime, "missing time"))?;
    let method = obj
        .get("method")
        .ok_or_else(|| fail(K::MissingMethod, "missing method"))?;
    let url = obj
        .get("url")
        .ok_or_else(|| fail(K::MissingUrl, "missing url"))?;
    let method = method
        .as_str()
        .ok_or_else(|| fail(K::MethodNotString, "method not a string"))?;
    let url = url
        .as_str()
        .ok_or_else(|| fail(K::UrlNotString, "url not a string"))?;
    let (parsed, time) = url_and_time(line_no, url, time.as_str())?;
    let ip = match obj.get("ip") {
        None | Some(Value::Null) => None,
        Some(Value::String(ip)) => Some(ip_of(line_no, ip)?),
        Some(_) => return Err(fail(K::BadIp, BAD_IP)),
    };
    let country = match obj.get("country") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) => Some(c.clone()),
        Some(_) => return Err(fail(K::CountryNotString, "country not a string")),
    };
    let token = match obj.get("jwt") {
        Some(Value::String(jwt)) => Some(jwt.clone()),
        Some(_) => return Err(fail(K::JwtNotString, "jwt not a string")),
        None => obj
            .get("headers")
            .and_then(Value::as_object)
            .and_then(token_from_headers),
    };
    Ok(RecordedRequest {
        line: line_no,
        time,
        method: method.to_owned(),
        url: url.to_owned(),
        parsed,
        token,
        ip,
        country,
    })
}

const BAD_IP: &str = "ip not an IPv4 or IPv6 address";

/// The URL's parts and the time (`None`: not a string), checked in that order.
fn url_and_time(
    line_no: u64,
    url: &str,
    time: Option<&str>,
) -> Result<(ParsedUrl, i64), Unreadable> {
    use UnreadableKind as K;
    let parsed = parse_url(url).map_err(|kind| match kind {
        K::UrlNotHttp => Unreadable::new(line_no, kind, "url not http or https"),
        _ => Unreadable::new(line_no, kind, "url not an absolute http/https URL"),
    })?;
    let time = time
        .and_then(crate::input::parse_rfc3339)
        .ok_or_else(|| Unreadable::new(line_no, K::BadTime, "bad time (not an RFC 3339 string)"))?;
    Ok((parsed, time))
}

/// An IPv4 or IPv6 address; an IPv4-mapped IPv6 address is that IPv4 address.
fn ip_of(line_no: u64, ip: &str) -> Result<IpAddr, Unreadable> {
    ip.parse::<IpAddr>()
        .map(|ip| ip.to_canonical())
        .map_err(|_| Unreadable::new(line_no, UnreadableKind::BadIp, BAD_IP))
}

/// Host and pathname of an absolute `http`/`https` URL.
pub fn parse_url(url: &str) -> Result<ParsedUrl, UnreadableKind> {
    match plain_url(url) {
        Some(parsed) => Ok(parsed),
        None => parse_url_general(url),
    }
}

/// A URL of the shape recorded traffic nearly always has, read without the general parser:
/// `http(s)://` (lowercase), a lowercase host name whose last label starts with a letter (so not
/// an IPv4 address) and no `xn--` label, then a path of URL-safe characters (no `%`, no `.` or
/// `..` segment), then anything after `?` or `#`. WHATWG parsing leaves such a host and path as
/// written; `None` for anything else.
fn plain_url(url: &str) -> Option<ParsedUrl> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    // The host: labels of `a-z 0-9 -`, none empty or `xn--`, the last starting with a letter.
    let plain_label = |l: &[u8]| !l.is_empty() && !l.starts_with(b"xn--");
    let bytes = rest.as_bytes();
    let host_end = bytes
        .iter()
        .position(|c| !matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.'))?;
    let (host, tail) = rest.split_at(host_end);
    let mut labels = host.as_bytes().split(|&c| c == b'.');
    let last_is_name = host
        .rsplit('.')
        .next()
        .is_some_and(|last| last.starts_with(|c: char| c.is_ascii_lowercase()));
    if !last_is_name || !labels.all(plain_label) {
        return None;
    }
    // The path: URL-safe bytes up to `?` or `#`, no `.` or `..` segment.
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    let path = tail.get(..path_end)?;
    let dot_segment = |seg: &[u8]| seg == b"." || seg == b"..";
    if !path.starts_with('/')
        || !path.bytes().all(url_safe)
        || path.as_bytes().split(|&c| c == b'/').any(dot_segment)
    {
        return None;
    }
    Some(ParsedUrl {
        host: host.to_owned(),
        path: path.to_owned(),
    })
}

/// Whether a WHATWG path keeps the byte as it is: ASCII letters and digits and
/// `-._~!$&'()*+,;=:@/`.
fn url_safe(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'/'
        )
}

/// [`parse_url`] by the general (WHATWG) parser alone.
pub fn parse_url_general(url: &str) -> Result<ParsedUrl, UnreadableKind> {
    let parsed = url::Url::parse(url).map_err(|_| UnreadableKind::UrlNotAbsolute)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(UnreadableKind::UrlNotHttp);
    }
    let host = parsed.host_str().ok_or(UnreadableKind::UrlNotAbsolute)?;
    Ok(ParsedUrl {
        host: host.to_ascii_lowercase(),
        path: parsed.path().to_owned(),
    })
}

/// The token of the first source present among recorded headers (names
/// case-insensitive): `cf-access-jwt-assertion`, then `authorization` with the
/// `Bearer` scheme (case-insensitive; other schemes are no source), then the
/// `CF_Authorization` cookie. Values that are not strings are no source.
pub fn token_from_headers(headers: &Map<String, Value>) -> Option<String> {
    let named = |name: &'static str| {
        headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .filter_map(|(_, v)| v.as_str())
    };
    if let Some(token) = named("cf-access-jwt-assertion").next() {
        return Some(token.trim_matches(is_ows).to_owned());
    }
    if let Some(token) = named("authorization").find_map(bearer) {
        return Some(token.to_owned());
    }
    named("cookie").find_map(|cookie| {
        cookie.split(';').find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            (name.trim_matches(is_ows) == "CF_Authorization")
                .then(|| value.trim_matches(is_ows).to_owned())
        })
    })
}

/// The credentials of an `Authorization` value with the `Bearer` scheme.
fn bearer(value: &str) -> Option<&str> {
    let value = value.trim_matches(is_ows);
    let (scheme, rest) = value.split_once([' ', '\t']).unwrap_or((value, ""));
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_matches(is_ows))
}

/// HTTP optional whitespace.
fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Recorded traffic read line by line from any [`BufRead`], never loaded whole.
///
/// Yields one item per line, numbered from 1, with `\n` or `\r\n` stripped; a
/// last line without a newline is still a line, and the newline that ends the
/// file does not start another. When reading fails (an I/O error), one
/// `Unreadable` of kind [`UnreadableKind::Io`] is yielded and iteration ends.
#[derive(Debug)]
pub struct TrafficReader<R: BufRead> {
    input: R,
    line_no: u64,
    buf: Vec<u8>,
    done: bool,
    /// The size of the last batch's lines.
    batch_bytes: usize,
}

impl<R: BufRead> TrafficReader<R> {
    pub fn new(input: R) -> Self {
        TrafficReader {
            input,
            line_no: 0,
            buf: Vec::new(),
            done: false,
            batch_bytes: 0,
        }
    }

    /// The number of the last line yielded (0 before the first).
    pub fn line_no(&self) -> u64 {
        self.line_no
    }
}

impl<R: BufRead> TrafficReader<R> {
    /// The next line's bytes, without its line ending, numbered [`Self::line_no`]; `None` at
    /// the end, an `Unreadable` of kind [`UnreadableKind::Io`] when reading fails (the end too).
    pub fn next_raw(&mut self) -> Option<Result<&[u8], Unreadable>> {
        if self.done {
            return None;
        }
        self.buf.clear();
        match self.input.read_until(b'\n', &mut self.buf) {
            Ok(0) => {
                self.done = true;
                None
            }
            Ok(_) => {
                self.line_no += 1;
                let mut line = self.buf.as_slice();
                line = line.strip_suffix(b"\n").unwrap_or(line);
                line = line.strip_suffix(b"\r").unwrap_or(line);
                Some(Ok(line))
            }
            Err(e) => {
                self.done = true;
                self.line_no += 1;
                Some(Err(Unreadable::new(
                    self.line_no,
                    UnreadableKind::Io,
                    format!("cannot read: {e}"),
                )))
            }
        }
    }

    /// Up to `max` lines, unparsed, for workers to parse; empty at the end.
    pub fn next_batch(&mut self, max: usize) -> Batch {
        let mut batch = Batch {
            first: self.line_no + 1,
            // Sized like the last batch, so that a batch is rarely grown.
            bytes: Vec::with_capacity(self.batch_bytes),
            ends: Vec::with_capacity(max),
            failed: None,
        };
        while batch.ends.len() < max {
            match self.next_raw() {
                None => break,
                Some(Ok(line)) => {
                    batch.bytes.extend_from_slice(line);
                    batch.ends.push(batch.bytes.len());
                }
                Some(Err(u)) => {
                    batch.failed = Some(u);
                    break;
                }
            }
        }
        self.batch_bytes = batch.bytes.len();
        batch
    }
}

/// Consecutive lines read but not yet parsed: the unit the replay hands its workers.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// The number of the first line.
    first: u64,
    /// The lines back to back, without line endings.
    bytes: Vec<u8>,
    /// Where each line ends in `bytes`.
    ends: Vec<usize>,
    /// Reading failed after the last line: nothing follows.
    pub failed: Option<Unreadable>,
}

impl Batch {
    /// The number of lines (a read failure not counted).
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty() && self.failed.is_none()
    }

    /// The number of line `i` of the batch.
    pub fn line(&self, i: usize) -> u64 {
        self.first + i as u64
    }

    /// Line `i` of the batch, parsed.
    pub fn parse(&self, i: usize) -> Result<RecordedRequest, Unreadable> {
        let start = i
            .checked_sub(1)
            .and_then(|p| self.ends.get(p))
            .copied()
            .unwrap_or(0);
        let end = self.ends.get(i).copied().unwrap_or(start);
        parse_line(self.line(i), self.bytes.get(start..end).unwrap_or_default())
    }
}

impl<R: BufRead> Iterator for TrafficReader<R> {
    type Item = Result<RecordedRequest, Unreadable>;

    fn next(&mut self) -> Option<Self::Item> {
        let line_no = self.line_no + 1;
        Some(match self.next_raw()? {
            Ok(line) => parse_line(line_no, line),
            Err(u) => Err(u),
        })
    }
}
