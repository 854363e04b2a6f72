//! The recorded-traffic reader: JSON Lines of requests with their tokens (DESIGN §4), streamed line by line.

use std::borrow::Cow;
use std::io::{BufRead, Read};
use std::net::IpAddr;

use serde_json::value::RawValue;

use crate::input::Request;
use crate::jwt::TokenHint;

/// One readable line of recorded traffic. Its strings are borrowed from the line when the line
/// holds them as they are (no escapes), else owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest<'a> {
    /// The line number, from 1.
    pub line: u64,
    /// Unix seconds; fractional seconds are rounded down.
    pub time: i64,
    /// As recorded.
    pub method: Cow<'a, str>,
    /// As recorded.
    pub url: Cow<'a, str>,
    pub parsed: ParsedUrl<'a>,
    /// The token of the first source present (`jwt`, `cf-access-jwt-assertion`,
    /// `authorization: Bearer`, the `CF_Authorization` cookie), even when it is
    /// empty (`Some("")`) or invalid; `None` when there is no source. Space and tab around it are
    /// not part of it, as around any header value the Worker reads.
    pub token: Option<Cow<'a, str>>,
    /// Where the worker's token cache holds the token, when the reader asked it (see
    /// [`parse_line_knowing`]).
    pub token_hint: Option<TokenHint>,
    /// An IPv4-mapped IPv6 address is that IPv4 address. Space and tab around the recorded
    /// address are ignored, as the Worker's runtime strips them from `CF-Connecting-IP`.
    pub ip: Option<IpAddr>,
    /// Without space or tab around it, as the Worker's runtime strips them from `CF-IPCountry`.
    pub country: Option<Cow<'a, str>>,
}

impl RecordedRequest<'_> {
    /// The request the policy sees (method as recorded, host and path from the URL, no claims
    /// yet), with the token and the URL as recorded.
    pub fn into_parts(self) -> (Request, Option<String>, String) {
        let request = Request {
            method: crate::input::normalize_method(&self.method).into_owned(),
            host: self.parsed.host.into_owned(),
            path: self.parsed.path.into_owned(),
            time: self.time,
            ip: self.ip,
            country: self.country.map(Cow::into_owned),
            claims: Default::default(),
        };
        (
            request,
            self.token.map(Cow::into_owned),
            self.url.into_owned(),
        )
    }

    /// Writes the request the policy sees into `request`, reusing its buffers: method, host,
    /// path, time, ip and country. Its claims are left as they were: set them before deciding.
    pub fn fill(&self, request: &mut Request) {
        let set = |to: &mut String, from: &str| {
            to.clear();
            to.push_str(from);
        };
        set(
            &mut request.method,
            &crate::input::normalize_method(&self.method),
        );
        set(&mut request.host, &self.parsed.host);
        set(&mut request.path, &self.parsed.path);
        request.time = self.time;
        request.ip = self.ip;
        match &self.country {
            Some(c) => set(request.country.get_or_insert_with(String::new), c),
            None => request.country = None,
        }
    }

    /// The same request owning its strings.
    pub fn into_owned(self) -> RecordedRequest<'static> {
        let own = |s: Cow<'_, str>| Cow::Owned(s.into_owned());
        RecordedRequest {
            line: self.line,
            time: self.time,
            method: own(self.method),
            url: own(self.url),
            parsed: self.parsed.into_owned(),
            token: self.token.map(own),
            token_hint: self.token_hint,
            ip: self.ip,
            country: self.country.map(own),
        }
    }
}

/// The parts of the URL the policy sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedUrl<'a> {
    /// Lowercase, without port (an IPv6 host keeps its brackets).
    pub host: Cow<'a, str>,
    /// The WHATWG URL pathname, as the `url` crate produces it.
    pub path: Cow<'a, str>,
}

impl ParsedUrl<'_> {
    /// The same parts owning their strings.
    pub fn into_owned(self) -> ParsedUrl<'static> {
        ParsedUrl {
            host: Cow::Owned(self.host.into_owned()),
            path: Cow::Owned(self.path.into_owned()),
        }
    }
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
    /// Longer than [`MAX_LINE_BYTES`]: skipped unread.
    TooLong,
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
            UnreadableKind::TooLong => "too_long",
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

/// A line as it nearly always is: an object of the known fields, each once, every value a string
/// without escapes (`ip` and `country` may be missing or `null`), the token in `jwt`.
struct Plain<'a> {
    time: &'a str,
    method: &'a str,
    url: &'a str,
    jwt: &'a str,
    /// The token was known plain: where the worker's cache holds it.
    hint: Option<TokenHint>,
    ip: Option<&'a str>,
    country: Option<&'a str>,
}

/// Reads a line as [`Plain`], in one pass and borrowing every string; `None` for any other line
/// (which the general reader then reads, or explains).
fn scan_plain<'l>(line: &'l [u8], known: &dyn Fn(&str) -> Option<TokenHint>) -> Option<Plain<'l>> {
    // One UTF-8 check of the whole line; every string is then a slice of it between two quotes.
    let text = simdutf8::basic::from_utf8(line).ok()?;
    let mut s = Scanner { text, at: 0 };
    // time, method, url, jwt, ip, country: unseen, `null`, or a string
    let mut fields: [Option<Option<&str>>; 6] = [None; 6];
    let mut hint = None;
    s.space();
    s.expect(b'{')?;
    s.space();
    if !s.eat(b'}') {
        loop {
            let slot = match s.known_key() {
                Some(slot) => slot,
                None => match s.string()?.as_bytes() {
                    b"time" => 0,
                    b"method" => 1,
                    b"url" => 2,
                    b"jwt" => 3,
                    b"ip" => 4,
                    b"country" => 5,
                    _ => return None,
                },
            };
            s.space();
            s.expect(b':')?;
            s.space();
            let value = if slot >= 4 && s.eat_word(b"null") {
                None
            } else if slot == 3 {
                let (token, h) = s.token(known)?;
                hint = h;
                Some(token)
            } else {
                Some(s.string()?)
            };
            let field = fields.get_mut(slot)?;
            if field.replace(value).is_some() {
                // A field twice: the general reader takes the last one.
                return None;
            }
            s.space();
            if s.eat(b',') {
                s.space();
                continue;
            }
            s.expect(b'}')?;
            break;
        }
    }
    s.space();
    if s.at != line.len() {
        return None;
    }
    let [time, method, url, jwt, ip, country] = fields;
    Some(Plain {
        time: time??,
        method: method??,
        url: url??,
        jwt: jwt??,
        hint,
        ip: ip.flatten(),
        country: country.flatten(),
    })
}

/// A cursor over a line for [`scan_plain`].
struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// Skips JSON whitespace.
    fn space(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.byte() {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.byte() == Some(byte);
        self.at += usize::from(hit);
        hit
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.eat(byte).then_some(())
    }

    fn eat_word(&mut self, word: &[u8]) -> bool {
        let hit = self
            .text
            .as_bytes()
            .get(self.at..)
            .is_some_and(|r| r.starts_with(word));
        if hit {
            self.at += word.len();
        }
        hit
    }

    /// The field a key names when it is written as one of the six keys exactly (quotes
    /// included), read without scanning; `None` (nothing read) for any other key.
    fn known_key(&mut self) -> Option<usize> {
        const KEYS: [&[u8]; 6] = [
            b"\"time\"",
            b"\"method\"",
            b"\"url\"",
            b"\"jwt\"",
            b"\"ip\"",
            b"\"country\"",
        ];
        let rest = self.text.as_bytes().get(self.at..)?;
        let slot = match rest.get(1)? {
            b't' => 0,
            b'm' => 1,
            b'u' => 2,
            b'j' => 3,
            b'i' => 4,
            b'c' => 5,
            _ => return None,
        };
        let key = KEYS.get(slot)?;
        rest.starts_with(key).then(|| {
            self.at += key.len();
            slot
        })
    }

    /// A token: [`Scanner::string`], except that a token `known` to be plain (one the worker
    /// has seen and found free of escapes and control characters) is taken up to the next quote
    /// without checking its bytes again: those bytes are the known token's, so they are plain too.
    fn token(
        &mut self,
        known: &dyn Fn(&str) -> Option<TokenHint>,
    ) -> Option<(&'a str, Option<TokenHint>)> {
        let rest = self.text.as_bytes().get(self.at..)?;
        if rest.first() == Some(&b'"')
            && let Some(len) = rest.get(1..).and_then(|r| memchr::memchr(b'"', r))
            && let Some(raw) = self.text.get(self.at + 1..self.at + 1 + len)
            && let Some(hint) = known(raw)
        {
            self.at += len + 2;
            return Some((raw, Some(hint)));
        }
        Some((self.string()?, None))
    }

    /// A string without escapes or control characters (which JSON forbids unescaped).
    #[inline(always)]
    fn string(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let len = plain_string_len(self.text.as_bytes().get(self.at..)?)?;
        let content = self.text.get(self.at..self.at + len)?;
        self.at += len + 1;
        Some(content)
    }
}

/// The length of the string body that opens `rest`, up to its closing quote; `None` when a
/// backslash or a control character comes first, or no quote closes it.
fn plain_string_len(rest: &[u8]) -> Option<usize> {
    let mut at = 0;
    // Most strings end within their first sixteen bytes: eight at a time.
    while at < 16 {
        if let Some(end) = stop_in_word(rest, at) {
            return end;
        }
        at += 8;
    }
    // Long strings (tokens) a block at a time, without an early exit inside a block so that the
    // test compiles to vector compares; the block holding the first stop is searched below.
    for block in rest.get(at..)?.chunks_exact(64) {
        if block.iter().fold(0u8, |hits, &b| hits | u8::from(stops(b))) != 0 {
            break;
        }
        at += 64;
    }
    loop {
        if let Some(end) = stop_in_word(rest, at) {
            return end;
        }
        at += 8;
    }
}

/// The first byte that [`stops`] a plain string among the eight at `at` (bytes past the end of
/// `rest` stop it too): `Some(Some(i))` when it is the closing quote at `i`, `Some(None)` when it
/// is anything else, `None` when those eight bytes hold none.
#[inline(always)]
fn stop_in_word(rest: &[u8], at: usize) -> Option<Option<usize>> {
    let Some(tail) = rest.get(at..) else {
        return Some(None);
    };
    let word = match tail.first_chunk::<8>() {
        Some(word) => *word,
        None => {
            let mut word = [0u8; 8];
            for (w, &t) in word.iter_mut().zip(tail) {
                *w = t;
            }
            word
        }
    };
    let mask = stop_mask(u64::from_le_bytes(word));
    if mask == 0 {
        return None;
    }
    let i = at + (mask.trailing_zeros() / 8) as usize;
    Some((rest.get(i) == Some(&b'"')).then_some(i))
}

/// The bytes that end a plain string: its closing quote, or what makes it not plain.
fn stops(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// The eight bytes of `w` (little-endian) with the high bit set in the first byte that
/// [`stops`] a plain string, and possibly in later ones; zero when none does. (The classic
/// zero-byte and less-than tests: exact up to the first hit, which is all that is read.)
fn stop_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let quote = zero(w ^ (ONES * u64::from(b'"')));
    let backslash = zero(w ^ (ONES * u64::from(b'\\')));
    let control = w.wrapping_sub(ONES * 0x20) & !w;
    (quote | backslash | control) & HIGH
}

/// Reads one line (without its line ending) numbered `line_no`.
pub fn parse_line(line_no: u64, bytes: &[u8]) -> Result<RecordedRequest<'_>, Unreadable> {
    parse_line_knowing(line_no, bytes, &|_| None)
}

/// [`parse_line`], told by `known` which tokens the worker knows to be plain already (a token
/// cache's [`TokenCache::knows_plain`](crate::jwt::TokenCache::knows_plain)): it reads every line
/// as `parse_line` does, only sooner when a line's token is one of them, and hands back the
/// cache's hint with it.
pub fn parse_line_knowing<'l>(
    line_no: u64,
    bytes: &'l [u8],
    known: &dyn Fn(&str) -> Option<TokenHint>,
) -> Result<RecordedRequest<'l>, Unreadable> {
    use UnreadableKind as K;
    let fail = |kind, error: &str| Unreadable::new(line_no, kind, error);
    // A byte order mark opening a line is not part of the JSON: a file's first line may carry
    // one, and so may any later line where files were joined (`cat a.jsonl b.jsonl`).
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(fail(K::Blank, "blank line"));
    }
    if let Some(plain) = scan_plain(bytes, known) {
        let (parsed, time) = url_and_time(line_no, plain.url, Some(plain.time))?;
        let token = plain.jwt.trim_matches(is_ows);
        return Ok(RecordedRequest {
            line: line_no,
            time,
            method: Cow::Borrowed(plain.method),
            url: Cow::Borrowed(plain.url),
            parsed,
            token: Some(Cow::Borrowed(token)),
            // The hint was given for the token as written.
            token_hint: plain.hint.filter(|_| token.len() == plain.jwt.len()),
            ip: plain
                .ip
                .map(|ip| ip_of(line_no, ip.trim_matches(is_ows)))
                .transpose()?,
            country: plain.country.map(|c| Cow::Borrowed(c.trim_matches(is_ows))),
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| fail(K::NotUtf8, "not UTF-8"))?;
    // Anything else (a missing or mistyped field, headers instead of `jwt`, a key twice, escapes)
    // takes the general path, which names what is wrong; both read a plain line alike.
    read_general(line_no, text)
}

/// The UTF-8 byte order mark.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// [`parse_line`] without its fast path for plain lines, on a line known to be UTF-8 text (a byte
/// order mark opening it is stripped): every line, plain or not, reads the same on both.
///
/// Only the fields a request needs are read as values: any other member is skipped by its syntax
/// alone, so that an unknown field is ignored whatever it holds (a number beyond `f64`, an
/// escaped lone surrogate, nesting deeper than a JSON value is read).
pub fn parse_general(line_no: u64, text: &str) -> Result<RecordedRequest<'static>, Unreadable> {
    read_general(line_no, text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// [`parse_general`] on a line whose byte order mark, if any, is stripped already.
fn read_general(line_no: u64, text: &str) -> Result<RecordedRequest<'static>, Unreadable> {
    use UnreadableKind as K;
    let fail = |kind, error: &str| Unreadable::new(line_no, kind, error);
    let Ok(Members(members)) = serde_json::from_str::<Members>(text) else {
        // Well-formed JSON of another kind, or not JSON at all.
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => fail(K::NotObject, "not a JSON object"),
            Err(_) => fail(K::NotJson, "not JSON"),
        });
    };
    // time, method, url, jwt, ip, country, headers; a key twice: the last one
    const NAMES: [&str; 7] = ["time", "method", "url", "jwt", "ip", "country", "headers"];
    let mut fields: [Option<&RawValue>; 7] = [None; 7];
    for (name, value) in members {
        if let Some(slot) = name
            .and_then(|n| NAMES.iter().position(|k| *k == n))
            .and_then(|i| fields.get_mut(i))
        {
            *slot = Some(value);
        }
    }
    let [time, method, url, jwt, ip, country, headers] = fields;
    let read =
        |name: &str, raw: Option<&RawValue>| raw.map(|r| field(line_no, name, r)).transpose();
    let time = read("time", time)?.ok_or_else(|| fail(K::MissingTime, "missing time"))?;
    let method = read("method", method)?.ok_or_else(|| fail(K::MissingMethod, "missing method"))?;
    let url = read("url", url)?.ok_or_else(|| fail(K::MissingUrl, "missing url"))?;
    let Field::Text(method) = method else {
        return Err(fail(K::MethodNotString, "method not a string"));
    };
    let Field::Text(url) = url else {
        return Err(fail(K::UrlNotString, "url not a string"));
    };
    let time = match &time {
        Field::Text(t) => Some(t.as_str()),
        _ => None,
    };
    let (parsed, time) = url_and_time(line_no, &url, time)?;
    let ip = match read("ip", ip)? {
        None | Some(Field::Null) => None,
        Some(Field::Text(ip)) => Some(ip_of(line_no, ip.trim_matches(is_ows))?),
        Some(Field::Other) => return Err(fail(K::BadIp, BAD_IP)),
    };
    let country = match read("country", country)? {
        None | Some(Field::Null) => None,
        Some(Field::Text(c)) => Some(c.trim_matches(is_ows).to_owned()),
        Some(Field::Other) => return Err(fail(K::CountryNotString, "country not a string")),
    };
    let token = match read("jwt", jwt)? {
        Some(Field::Text(jwt)) => Some(jwt.trim_matches(is_ows).to_owned()),
        Some(_) => return Err(fail(K::JwtNotString, "jwt not a string")),
        None => match headers {
            Some(h) => match serde_json::from_str::<Members>(h.get()) {
                Ok(Members(headers)) => token_from_headers(line_no, &headers)?,
                // Not an object: no header to take a token from.
                Err(_) => None,
            },
            None => None,
        },
    };
    Ok(RecordedRequest {
        line: line_no,
        time,
        parsed: parsed.into_owned(),
        method: Cow::Owned(method),
        url: Cow::Owned(url),
        token: token.map(Cow::Owned),
        token_hint: None,
        ip,
        country: country.map(Cow::Owned),
    })
}

/// A JSON object's members in order, their values unread (see [`parse_general`]); a key that
/// does not decode to Unicode text (an escaped lone surrogate) is `None`: it names no field.
struct Members<'a>(Vec<(Option<String>, &'a RawValue)>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Members<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Members<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Members<'a>, M::Error> {
                let mut members = Vec::new();
                while let Some((Key(key), value)) = map.next_entry::<Key, &'de RawValue>()? {
                    members.push((key, value));
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// A member's key, read as bytes so that one that is not Unicode text is a key all the same.
struct Key(Option<String>);

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl serde::de::Visitor<'_> for Visit {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, s: &str) -> Result<Key, E> {
                Ok(Key(Some(s.to_owned())))
            }
            fn visit_bytes<E>(self, b: &[u8]) -> Result<Key, E> {
                Ok(Key(std::str::from_utf8(b).ok().map(str::to_owned)))
            }
        }
        d.deserialize_bytes(Visit)
    }
}

/// A field's value as the reader takes it.
enum Field {
    Null,
    Text(String),
    /// A number, `true`, `false`, an array or an object.
    Other,
}

/// Reads the field `name` from its raw value; a string that is not Unicode text (an escaped lone
/// surrogate) makes the line unreadable.
fn field(line_no: u64, name: &str, raw: &RawValue) -> Result<Field, Unreadable> {
    match raw.get().as_bytes().first() {
        Some(b'"') => serde_json::from_str(raw.get())
            .map(Field::Text)
            .map_err(|_| {
                Unreadable::new(
                    line_no,
                    UnreadableKind::NotUtf8,
                    format!("not UTF-8: {name} holds an escaped lone surrogate"),
                )
            }),
        Some(b'n') => Ok(Field::Null),
        _ => Ok(Field::Other),
    }
}

const BAD_IP: &str = "ip not an IPv4 or IPv6 address";

/// The URL's parts and the time (`None`: not a string), checked in that order.
fn url_and_time<'a>(
    line_no: u64,
    url: &'a str,
    time: Option<&str>,
) -> Result<(ParsedUrl<'a>, i64), Unreadable> {
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
    if let Some(v4) = dotted_quad(ip.as_bytes()) {
        return Ok(IpAddr::V4(v4));
    }
    ip.parse::<IpAddr>()
        .map(|ip| ip.to_canonical())
        .map_err(|_| Unreadable::new(line_no, UnreadableKind::BadIp, BAD_IP))
}

/// An IPv4 address written as the standard parser takes it (four decimal numbers up to 255, no
/// leading zero), read without it; `None` for anything else, which that parser then reads.
pub fn dotted_quad(ip: &[u8]) -> Option<std::net::Ipv4Addr> {
    // One pass: the number being read, its digit count, and the octets done.
    let mut octets = [0u8; 4];
    let (mut done, mut n, mut digits) = (0, 0u16, 0);
    for &b in ip {
        if b.is_ascii_digit() {
            // a fourth digit, or a digit after a leading zero
            if digits == 3 || (digits == 1 && n == 0) {
                return None;
            }
            n = n * 10 + u16::from(b - b'0');
            digits += 1;
        } else if b == b'.' && digits > 0 {
            *octets.get_mut(done)? = u8::try_from(n).ok()?;
            (done, n, digits) = (done + 1, 0, 0);
        } else {
            return None;
        }
    }
    if done != 3 || digits == 0 {
        return None;
    }
    *octets.get_mut(3)? = u8::try_from(n).ok()?;
    Some(std::net::Ipv4Addr::from(octets))
}

/// Host and pathname of an absolute `http`/`https` URL.
pub fn parse_url(url: &str) -> Result<ParsedUrl<'_>, UnreadableKind> {
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
fn plain_url(url: &str) -> Option<ParsedUrl<'_>> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let bytes = rest.as_bytes();
    // The host: labels of `a-z 0-9 -`, none empty or `xn--`, the last starting with a letter.
    let plain_label = |l: &[u8]| !l.is_empty() && !l.starts_with(b"xn--");
    let (mut at, mut label) = (0, 0);
    loop {
        match bytes.get(at) {
            Some(&b) if class(b) & HOST != 0 => {}
            Some(b'.') => {
                if !plain_label(bytes.get(label..at)?) {
                    return None;
                }
                label = at + 1;
            }
            _ => break,
        }
        at += 1;
    }
    let last = bytes.get(label..at)?;
    if !plain_label(last) || !last.first()?.is_ascii_lowercase() {
        return None;
    }
    let host = rest.get(..at)?;
    // The path: URL-safe bytes up to `?` or `#`, no `.` or `..` segment.
    if bytes.get(at) != Some(&b'/') {
        return None;
    }
    let path_start = at;
    at += 1;
    let mut segment = at;
    loop {
        match bytes.get(at) {
            Some(&b) if class(b) & PATH != 0 => {}
            Some(b'.') => {}
            Some(&b) if b != b'/' && b != b'?' && b != b'#' => return None,
            b => {
                if matches!(bytes.get(segment..at)?, b"." | b"..") {
                    return None;
                }
                if b != Some(&b'/') {
                    break;
                }
                segment = at + 1;
            }
        }
        at += 1;
    }
    Some(ParsedUrl {
        host: Cow::Borrowed(host),
        path: Cow::Borrowed(rest.get(path_start..at)?),
    })
}

/// [`URL_CLASSES`] bit: a host name byte of [`plain_url`] (`a-z 0-9 -`).
const HOST: u8 = 1;
/// [`URL_CLASSES`] bit: a path byte kept as it is ([`url_safe`]) other than `.` and `/`.
const PATH: u8 = 2;

/// [`HOST`] and [`PATH`] of every byte.
// Evaluated at compile time, where an index out of bounds would fail the build.
#[allow(clippy::indexing_slicing)]
static URL_CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'-') {
            t[b] |= HOST;
        }
        if url_safe(c) && c != b'.' && c != b'/' {
            t[b] |= PATH;
        }
        b += 1;
    }
    t
};

fn class(b: u8) -> u8 {
    URL_CLASSES.get(usize::from(b)).copied().unwrap_or(0)
}

/// Whether a WHATWG path keeps the byte as it is: ASCII letters and digits and
/// `-._~!$&'()*+,;=:@/`.
const fn url_safe(c: u8) -> bool {
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
pub fn parse_url_general(url: &str) -> Result<ParsedUrl<'static>, UnreadableKind> {
    let parsed = url::Url::parse(url).map_err(|_| UnreadableKind::UrlNotAbsolute)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(UnreadableKind::UrlNotHttp);
    }
    let host = parsed.host_str().ok_or(UnreadableKind::UrlNotAbsolute)?;
    Ok(ParsedUrl {
        host: Cow::Owned(host.to_ascii_lowercase()),
        path: Cow::Owned(crate::input::url_path(url)),
    })
}

/// The token of the first source present among recorded headers (names
/// case-insensitive): `cf-access-jwt-assertion`, then `authorization` with the
/// `Bearer` scheme (case-insensitive; other schemes are no source), then the
/// `CF_Authorization` cookie. Values that are not strings are no source; the
/// values of one header written in several letter cases are joined by `, `, in
/// order, as the Worker's runtime joins repeated headers (a name written twice
/// exactly is JSON's: the last value).
pub fn token_from_headers(
    line_no: u64,
    headers: &[(Option<String>, &RawValue)],
) -> Result<Option<String>, Unreadable> {
    // A name twice, exactly: the last value, in the first one's place.
    let mut unique: Vec<(&str, &RawValue)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let Some(name) = name.as_deref() else {
            continue;
        };
        match unique.iter_mut().find(|(n, _)| *n == name) {
            Some(kept) => kept.1 = value,
            None => unique.push((name, value)),
        }
    }
    // The header `name` as the Worker's runtime hands it over (Fetch's `Headers.get`): the string
    // values of every header of that name, in any case, joined by `, ` in order; `None` for none.
    let named = |name: &'static str| -> Result<Option<String>, Unreadable> {
        let mut joined: Option<String> = None;
        for (n, v) in unique.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)) {
            if let Field::Text(s) = field(line_no, n, v)? {
                match &mut joined {
                    Some(j) => {
                        j.push_str(", ");
                        j.push_str(&s);
                    }
                    None => joined = Some(s),
                }
            }
        }
        Ok(joined)
    };
    if let Some(token) = named("cf-access-jwt-assertion")? {
        return Ok(Some(token.trim_matches(is_ows).to_owned()));
    }
    if let Some(token) = named("authorization")?.as_deref().and_then(bearer) {
        return Ok(Some(token.to_owned()));
    }
    Ok(named("cookie")?.and_then(|cookie| {
        cookie.split(';').find_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            (name.trim_matches(is_ows) == "CF_Authorization")
                .then(|| value.trim_matches(is_ows).to_owned())
        })
    }))
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
}

/// Recorded traffic cut into batches of whole lines for workers to parse, read straight into
/// buffers that are used again once given back ([`BatchReader::recycle`]). Its lines are
/// [`TrafficReader`]'s: line endings (`\n`, `\r\n`) stripped, a last line without a newline
/// still a line, a read failure reported once as the next line and nothing after it.
#[derive(Debug)]
pub struct BatchReader<R: Read> {
    input: R,
    /// Lines yielded so far.
    line_no: u64,
    /// What the last batch read past its last line: the lines of the next one.
    carry: Vec<u8>,
    done: bool,
    /// Batches given back, to be filled again.
    spare: Vec<Batch>,
    /// Lines longer than this are skipped, each reported as one unreadable line.
    max_line: usize,
    /// Discarding the rest of a line found too long.
    skipping: bool,
}

/// How many bytes a batch asks its input for at a time.
const READ_SIZE: usize = 1 << 18;

/// The longest line a replay reads (a recorded request with a 16 KiB token and its headers is
/// far shorter); a longer one is reported unreadable and never held whole.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// A batch stops taking lines once it holds this many bytes, so that batches of long lines stay
/// small too.
pub const BATCH_BYTES: usize = 8 << 20;

impl<R: Read> BatchReader<R> {
    pub fn new(input: R) -> Self {
        Self::with_max_line(input, MAX_LINE_BYTES)
    }

    /// A reader skipping lines longer than `max_line` bytes (line ending excluded).
    pub fn with_max_line(input: R, max_line: usize) -> Self {
        BatchReader {
            input,
            line_no: 0,
            carry: Vec::new(),
            done: false,
            spare: Vec::new(),
            max_line,
            skipping: false,
        }
    }

    /// Takes back a batch whose lines are done with, so that its buffers are filled again.
    pub fn recycle(&mut self, batch: Batch) {
        if self.spare.len() < 4 {
            self.spare.push(batch);
        }
    }

    /// Whether the input is read to its end (or failed) and every line handed out: the next
    /// batch would be empty.
    pub fn is_done(&self) -> bool {
        self.done && self.carry.is_empty()
    }

    /// Up to `max` lines, unparsed, for workers to parse; fewer when they hold [`BATCH_BYTES`]
    /// (so that fewer than `max` does not mean the end); empty at the end.
    pub fn next_batch(&mut self, max: usize) -> Batch {
        let mut batch = self.spare.pop().unwrap_or_default();
        batch.first = self.line_no + 1;
        batch.max_line = self.max_line;
        batch.ends.clear();
        batch.bodies.clear();
        batch.long.clear();
        batch.failed = None;
        let bytes = &mut batch.bytes;
        if bytes.len() < self.carry.len() + READ_SIZE {
            bytes.resize(self.carry.len() + READ_SIZE, 0);
        }
        let mut filled = self.carry.len();
        if let Some(start) = bytes.get_mut(..filled) {
            start.copy_from_slice(&self.carry);
        }
        self.carry.clear();
        // What the last batch left over may hold whole lines.
        let mut scanned = 0;
        // A line found too long is skipped to its end within the batch that counted it.
        while batch.ends.len() < max || self.skipping {
            if self.skipping {
                // The rest of a line found too long is dropped up to its newline.
                let fresh = bytes.get(scanned..filled).unwrap_or_default();
                match memchr::memchr(b'\n', fresh) {
                    Some(at) => {
                        bytes.copy_within(scanned + at + 1..filled, scanned);
                        filled -= at + 1;
                        self.skipping = false;
                    }
                    None => filled = scanned,
                }
            }
            if !self.skipping {
                let fresh = bytes.get(scanned..filled).unwrap_or_default();
                let room = max - batch.ends.len();
                let mut lines = Lines {
                    ends: &mut batch.ends,
                    bodies: &mut batch.bodies,
                    long: &mut batch.long,
                };
                for at in memchr::memchr_iter(b'\n', fresh).take(room) {
                    end_line(bytes, &mut lines, scanned + at + 1, self.max_line);
                }
                scanned = filled;
                let start = batch.ends.last().copied().unwrap_or(0);
                // Longer than the limit even if a `\r` ends it: counted as a line of its own,
                // its bytes dropped, the rest of it skipped.
                if batch.ends.len() < max && filled - start > self.max_line + 1 {
                    batch.long.push(batch.ends.len());
                    batch.ends.push(start);
                    batch.bodies.push(start);
                    filled = start;
                    scanned = start;
                    self.skipping = true;
                }
            }
            let full = !self.skipping && !batch.ends.is_empty() && filled >= BATCH_BYTES;
            if (batch.ends.len() == max && !self.skipping) || self.done || full {
                break;
            }
            if bytes.len() < filled + READ_SIZE {
                bytes.resize(filled + READ_SIZE, 0);
            }
            // A read at a time, so that little is read past the batch's last line.
            let room = bytes
                .get_mut(filled..filled + READ_SIZE)
                .unwrap_or_default();
            match self.input.read(room) {
                Ok(0) => {
                    self.done = true;
                    self.skipping = false;
                    // A last line without a newline.
                    if batch.ends.last().copied().unwrap_or(0) < filled {
                        let mut lines = Lines {
                            ends: &mut batch.ends,
                            bodies: &mut batch.bodies,
                            long: &mut batch.long,
                        };
                        end_line(bytes, &mut lines, filled, self.max_line);
                    }
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.done = true;
                    // The line being read is lost with the failure, even one found too long.
                    if std::mem::take(&mut self.skipping) {
                        batch.ends.pop();
                        batch.bodies.pop();
                        batch.long.pop();
                    }
                    filled = batch.ends.last().copied().unwrap_or(0);
                    batch.failed = Some(Unreadable::new(
                        self.line_no + batch.ends.len() as u64 + 1,
                        UnreadableKind::Io,
                        format!("cannot read: {e}"),
                    ));
                }
            }
        }
        let cut = batch.ends.last().copied().unwrap_or(0);
        self.carry
            .extend_from_slice(bytes.get(cut..filled).unwrap_or_default());
        self.line_no += batch.ends.len() as u64;
        batch
    }
}

/// Ends the line that starts at the last of `ends` at `end`, listing it in `long` when it is
/// longer than `max_line` without its line ending.
fn end_line(bytes: &[u8], lines: &mut Lines<'_>, end: usize, max_line: usize) {
    let start = lines.ends.last().copied().unwrap_or(0);
    let body = strip_line_ending(bytes.get(start..end).unwrap_or_default()).len();
    if body > max_line {
        lines.long.push(lines.ends.len());
    }
    lines.ends.push(end);
    lines.bodies.push(start + body);
}

/// Where a batch's lines end, as the reader finds them (see [`Batch`]).
struct Lines<'b> {
    ends: &'b mut Vec<usize>,
    bodies: &'b mut Vec<usize>,
    long: &'b mut Vec<usize>,
}

/// A line without its `\n` or `\r\n` (or a lone final `\r`).
fn strip_line_ending(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Consecutive lines read but not yet parsed: the unit the replay hands its workers.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// The number of the first line.
    first: u64,
    /// The lines back to back with their line endings (and unused bytes after them).
    bytes: Vec<u8>,
    /// Where each line ends in `bytes`, after its line ending: where the next one starts.
    ends: Vec<usize>,
    /// Where each line ends in `bytes` before its line ending (found by the reader, which has
    /// the bytes at hand, so that a worker reads a line from its start).
    bodies: Vec<usize>,
    /// The lines (indexes, ascending) longer than `max_line` bytes without their line ending:
    /// unread (and the bytes of those found long before their end was read never kept).
    long: Vec<usize>,
    max_line: usize,
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

    /// Line `i` of the batch without its line ending.
    pub fn bytes(&self, i: usize) -> &[u8] {
        let start = i
            .checked_sub(1)
            .and_then(|p| self.ends.get(p))
            .copied()
            .unwrap_or(0);
        let end = self.bodies.get(i).copied().unwrap_or(start);
        self.bytes.get(start..end).unwrap_or_default()
    }

    /// Whether line `i` was too long to read.
    pub fn is_too_long(&self, i: usize) -> bool {
        self.long.binary_search(&i).is_ok()
    }

    /// Line `i` of the batch, parsed.
    pub fn parse(&self, i: usize) -> Result<RecordedRequest<'_>, Unreadable> {
        self.parse_knowing(i, &|_| None)
    }

    /// [`Batch::parse`] through [`parse_line_knowing`].
    pub fn parse_knowing(
        &self,
        i: usize,
        known: &dyn Fn(&str) -> Option<TokenHint>,
    ) -> Result<RecordedRequest<'_>, Unreadable> {
        if !self.long.is_empty() && self.is_too_long(i) {
            return Err(Unreadable::new(
                self.line(i),
                UnreadableKind::TooLong,
                format!("line longer than {} bytes", self.max_line),
            ));
        }
        parse_line_knowing(self.line(i), self.bytes(i), known)
    }
}

impl<R: BufRead> Iterator for TrafficReader<R> {
    type Item = Result<RecordedRequest<'static>, Unreadable>;

    fn next(&mut self) -> Option<Self::Item> {
        let line_no = self.line_no + 1;
        Some(match self.next_raw()? {
            Ok(line) => parse_line(line_no, line).map(RecordedRequest::into_owned),
            Err(u) => Err(u),
        })
    }
}
