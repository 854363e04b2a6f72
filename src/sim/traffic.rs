//! The recorded-traffic reader: JSON Lines of requests with their tokens (DESIGN §4), streamed line by line.

use std::io::BufRead;
use std::net::IpAddr;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

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
    let parsed = parse_url(url).map_err(|kind| match kind {
        K::UrlNotHttp => fail(kind, "url not http or https"),
        _ => fail(kind, "url not an absolute http/https URL"),
    })?;
    let time = time
        .as_str()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .ok_or_else(|| fail(K::BadTime, "bad time (not an RFC 3339 string)"))?
        .unix_timestamp();
    let ip = match obj.get("ip") {
        None | Some(Value::Null) => None,
        Some(ip) => Some(
            ip.as_str()
                .and_then(|ip| ip.parse::<IpAddr>().ok())
                .ok_or_else(|| fail(K::BadIp, "ip not an IPv4 or IPv6 address"))?
                .to_canonical(),
        ),
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

/// Host and pathname of an absolute `http`/`https` URL.
pub fn parse_url(url: &str) -> Result<ParsedUrl, UnreadableKind> {
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
}

impl<R: BufRead> TrafficReader<R> {
    pub fn new(input: R) -> Self {
        TrafficReader {
            input,
            line_no: 0,
            buf: Vec::new(),
            done: false,
        }
    }

    /// The number of the last line yielded (0 before the first).
    pub fn line_no(&self) -> u64 {
        self.line_no
    }
}

impl<R: BufRead> Iterator for TrafficReader<R> {
    type Item = Result<RecordedRequest, Unreadable>;

    fn next(&mut self) -> Option<Self::Item> {
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
                Some(parse_line(self.line_no, line))
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
}
