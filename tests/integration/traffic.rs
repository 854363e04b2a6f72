//! The recorded-traffic reader (DESIGN §4): fields, token sources, unreadable lines, line numbering.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, Cursor};
use std::net::IpAddr;

use edgeward::jwt::{Jwks, Profile, TokenCache, Verifier};
use edgeward::sim::traffic::{
    BatchReader, RecordedRequest, TrafficReader, Unreadable, UnreadableKind, dotted_quad,
    parse_general, parse_line, parse_line_knowing, parse_url, parse_url_general,
};
use serde_json::{Value, json};

/// A verifier of no keys: every token it sees is cached (as malformed or with a bad key).
fn plain_verifier() -> Verifier {
    Verifier::new(
        Jwks::parse(r#"{"keys":[]}"#).unwrap(),
        Profile::default(),
        Vec::new(),
    )
}

fn line(v: Value) -> Result<RecordedRequest<'static>, Unreadable> {
    parse_line(7, v.to_string().as_bytes()).map(RecordedRequest::into_owned)
}

fn ok(v: Value) -> RecordedRequest<'static> {
    line(v).unwrap()
}

fn base() -> Value {
    json!({"time": "2026-11-28T10:00:00Z", "method": "GET", "url": "https://payments.acme.dev/api/v1/payments/42"})
}

fn with(changes: Value) -> Value {
    let mut v = base();
    for (k, x) in changes.as_object().unwrap() {
        if x == &json!("<remove>") {
            v.as_object_mut().unwrap().remove(k);
        } else {
            v[k] = x.clone();
        }
    }
    v
}

fn token(changes: Value) -> Option<String> {
    ok(with(changes)).token.map(String::from)
}

#[test]
fn a_full_line() {
    let r = ok(with(
        json!({"jwt": "eyJ.x.y", "ip": "203.0.113.7", "country": "US", "extra": [1]}),
    ));
    assert_eq!(r.line, 7);
    assert_eq!(r.time, 1_795_860_000);
    assert_eq!(r.method, "GET");
    assert_eq!(r.url, "https://payments.acme.dev/api/v1/payments/42");
    assert_eq!(r.parsed.host, "payments.acme.dev");
    assert_eq!(r.parsed.path, "/api/v1/payments/42");
    assert_eq!(r.token.as_deref(), Some("eyJ.x.y"));
    assert_eq!(r.ip, Some("203.0.113.7".parse().unwrap()));
    assert_eq!(r.country.as_deref(), Some("US"));
}

#[test]
fn url_method_time_ip_country_as_pinned() {
    let r = ok(with(
        json!({"method": "get", "url": "HTTPS://Payments.ACME.dev:8443/a/./b/../c%2Fd/%7e?x=1#f"}),
    ));
    assert_eq!(r.method, "get", "method as recorded");
    assert_eq!(
        r.url, "HTTPS://Payments.ACME.dev:8443/a/./b/../c%2Fd/%7e?x=1#f",
        "url as recorded"
    );
    assert_eq!(r.parsed.host, "payments.acme.dev");
    assert_eq!(r.parsed.path, "/a/c%2Fd/%7e", "WHATWG pathname");
    assert_eq!(ok(with(json!({"url": "http://h"}))).parsed.path, "/");
    assert_eq!(
        ok(with(json!({"url": "http://[::1]:80/x"}))).parsed.host,
        "[::1]"
    );
    let t = |s: &str| ok(with(json!({"time": s}))).time;
    assert_eq!(
        t("2026-11-28T10:00:00.999Z"),
        1_795_860_000,
        "fractional seconds rounded down"
    );
    assert_eq!(t("2026-11-28T11:00:00+01:00"), 1_795_860_000, "UTC offset");
    assert_eq!(
        t("1969-12-31T23:59:59.5Z"),
        -1,
        "rounded down, not toward zero"
    );
    let ip = |s: Value| ok(with(json!({"ip": s}))).ip;
    assert_eq!(
        ip(json!("::ffff:10.1.2.3")),
        Some(IpAddr::from([10, 1, 2, 3])),
        "IPv4-mapped IPv6 is IPv4"
    );
    assert_eq!(
        ip(json!("2001:db8::1")),
        Some("2001:db8::1".parse().unwrap())
    );
    assert_eq!(ip(Value::Null), None);
    assert_eq!(ok(with(json!({"country": null}))).country, None);
    assert_eq!(ok(base()).ip, None);
}

#[test]
fn token_sources_in_order() {
    let h = |headers: Value| token(json!({"headers": headers}));
    assert_eq!(token(json!({})), None);
    assert_eq!(
        token(json!({"jwt": ""})),
        Some(String::new()),
        "empty jwt is a token (malformed)"
    );
    assert_eq!(
        token(json!({"jwt": "a", "headers": {"cf-access-jwt-assertion": "b"}})).as_deref(),
        Some("a")
    );
    assert_eq!(
        token(json!({"jwt": "", "headers": {"cf-access-jwt-assertion": "b"}})).as_deref(),
        Some(""),
        "first source wins even empty"
    );
    let all = json!({"Cookie": "CF_Authorization=d", "AUTHORIZATION": "Bearer c", "Cf-Access-Jwt-Assertion": "b"});
    assert_eq!(
        h(all).as_deref(),
        Some("b"),
        "header names case-insensitive"
    );
    assert_eq!(
        h(json!({"cookie": "CF_Authorization=d", "Authorization": "bEaReR c"})).as_deref(),
        Some("c")
    );
    assert_eq!(
        h(json!({"Authorization": "Bearer"})).as_deref(),
        Some(""),
        "Bearer without credentials: empty token"
    );
    assert_eq!(
        h(json!({"authorization": "Basic YTpi", "cookie": "x=1; CF_Authorization=d; y=2"}))
            .as_deref(),
        Some("d"),
        "another scheme is no source"
    );
    assert_eq!(h(json!({"authorization": "Basic YTpi"})), None);
    assert_eq!(
        h(json!({"cookie": "x=1; cf_authorization=d"})),
        None,
        "cookie names are case-sensitive"
    );
    assert_eq!(
        h(json!({"cookie": "CF_Authorization="})).as_deref(),
        Some("")
    );
    assert_eq!(
        h(json!({"cf-access-jwt-assertion": "bad token", "authorization": "Bearer good"}))
            .as_deref(),
        Some("bad token")
    );
    assert_eq!(h(json!({})), None);
    assert_eq!(h(json!("not an object")), None);
}

/// One header written in several letter cases reads as the Worker's runtime hands it over: the
/// values joined by `, ` in order (Fetch's `Headers.get`).
#[test]
fn a_header_in_several_letter_cases_is_joined() {
    let h = |headers: &str| {
        let text = base().to_string();
        let text = format!("{{\"headers\": {headers},{}", &text[1..]);
        parse_line(7, text.as_bytes())
            .unwrap()
            .token
            .map(String::from)
    };
    assert_eq!(
        h(r#"{"Authorization": "Basic eDp5", "authorization": "Bearer t0k"}"#),
        None,
        "`Basic eDp5, Bearer t0k` is the Basic scheme"
    );
    assert_eq!(
        h(r#"{"Authorization": "Bearer t0k", "AUTHORIZATION": "Basic eDp5"}"#).as_deref(),
        Some("t0k, Basic eDp5")
    );
    assert_eq!(
        h(r#"{"cf-access-jwt-assertion": "a", "CF-Access-JWT-Assertion": "b"}"#).as_deref(),
        Some("a, b")
    );
    assert_eq!(
        h(r#"{"Cookie": "a=1", "cookie": "CF_Authorization=c"}"#),
        None,
        "`a=1, CF_Authorization=c` is one pair, named `a`"
    );
    assert_eq!(
        h(r#"{"Cookie": "CF_Authorization=c", "cookie": "a=1"}"#).as_deref(),
        Some("c, a=1")
    );
    // A name written twice exactly is JSON's: the last value.
    assert_eq!(
        h(r#"{"authorization": "Basic eDp5", "authorization": "Bearer t0k"}"#).as_deref(),
        Some("t0k")
    );
    // Values that are not strings are left out of the join.
    assert_eq!(
        h(r#"{"Authorization": 5, "authorization": "Bearer t0k"}"#).as_deref(),
        Some("t0k")
    );
}

/// The method the policy sees is the one the Worker's runtime hands over: Fetch's methods (and
/// PATCH) in uppercase whatever their case, any other as written; reports keep it as recorded.
#[test]
fn methods_are_normalised_as_the_runtime_normalises_them() {
    let mut request = edgeward::input::Request::default();
    for (recorded, seen) in [
        ("get", "GET"),
        ("Post", "POST"),
        ("pAtCh", "PATCH"),
        ("options", "OPTIONS"),
        ("HEAD", "HEAD"),
        ("purge", "purge"),
        ("Purge", "Purge"),
    ] {
        let r = ok(with(json!({ "method": recorded })));
        assert_eq!(r.method, recorded);
        r.fill(&mut request);
        assert_eq!(request.method, seen);
        assert_eq!(r.into_parts().0.method, seen);
    }
}

/// `^` in a path is percent-encoded, as the WHATWG URL Standard (since 2025) and the Worker's
/// runtime encode it.
#[test]
fn a_caret_in_a_path_is_percent_encoded() {
    for (url, path) in [
        ("https://a.dev/p/^", "/p/%5E"),
        ("https://a.dev/a^b/c?x=^", "/a%5Eb/c"),
        ("https://a.dev/p/%5E", "/p/%5E"),
    ] {
        assert_eq!(parse_url(url).unwrap().path, path, "{url}");
        assert_eq!(ok(with(json!({ "url": url }))).parsed.path, path, "{url}");
    }
}

#[test]
fn each_unreadable_kind() {
    use UnreadableKind::*;
    let raw = |bytes: &[u8]| parse_line(3, bytes).unwrap_err();
    for (bytes, kind) in [
        (&b""[..], Blank),
        (b"  \t ", Blank),
        (b"{\"time\": \"\xff\"}", NotUtf8),
        (b"{\"time\":", NotJson),
        (b"garbage", NotJson),
        (b"[1, 2]", NotObject),
        (b"\"a string\"", NotObject),
        (b"null", NotObject),
    ] {
        let e = raw(bytes);
        assert_eq!(
            (e.line, e.kind),
            (3, kind),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
        assert!(!e.error.is_empty());
    }
    for (v, kind) in [
        (with(json!({"time": "<remove>"})), MissingTime),
        (with(json!({"method": "<remove>"})), MissingMethod),
        (with(json!({"url": "<remove>"})), MissingUrl),
        (with(json!({"method": 1})), MethodNotString),
        (with(json!({"method": null})), MethodNotString),
        (with(json!({"url": ["x"]})), UrlNotString),
        (with(json!({"url": "/relative/path"})), UrlNotAbsolute),
        (with(json!({"url": "payments.acme.dev/x"})), UrlNotAbsolute),
        (
            with(json!({"url": "ftp://payments.acme.dev/x"})),
            UrlNotHttp,
        ),
        (with(json!({"url": "file:///etc/passwd"})), UrlNotHttp),
        (with(json!({"time": "2026-11-28 10:00:00"})), BadTime),
        (with(json!({"time": "2026-11-28T10:00:00"})), BadTime),
        (with(json!({"time": 1_795_860_000})), BadTime),
        (with(json!({"time": "2026-02-30T10:00:00Z"})), BadTime),
        (with(json!({"ip": "203.0.113"})), BadIp),
        (with(json!({"ip": "10.0.0.0/8"})), BadIp),
        (with(json!({"ip": 7})), BadIp),
        (with(json!({"country": ["US"]})), CountryNotString),
        (with(json!({"jwt": 1})), JwtNotString),
        (with(json!({"jwt": null})), JwtNotString),
    ] {
        assert_eq!(line(v.clone()).unwrap_err().kind, kind, "{v}");
    }
}

fn read_all(input: &[u8]) -> Vec<Result<RecordedRequest<'static>, Unreadable>> {
    TrafficReader::new(Cursor::new(input.to_vec())).collect()
}

fn summary(input: &[u8]) -> Vec<(u64, Option<UnreadableKind>)> {
    read_all(input)
        .into_iter()
        .map(|r| match r {
            Ok(r) => (r.line, None),
            Err(e) => (e.line, Some(e.kind)),
        })
        .collect()
}

#[test]
fn reader_numbers_lines_and_strips_line_endings() {
    use UnreadableKind::*;
    let good = base().to_string();
    let file = format!("{good}\r\n\n{good}\ngarbage\r\n\r\n  \n{good}\r\n{{\"time\":\"2026");
    assert_eq!(
        summary(file.as_bytes()),
        vec![
            (1, None),
            (2, Some(Blank)),
            (3, None),
            (4, Some(NotJson)),
            (5, Some(Blank)),
            (6, Some(Blank)),
            (7, None),
            (8, Some(NotJson))
        ]
    );
    assert_eq!(summary(b""), vec![]);
    assert_eq!(
        summary(b"\n"),
        vec![(1, Some(Blank))],
        "the newline that ends the file starts no line"
    );
    assert_eq!(summary(format!("{good}\n").as_bytes()), vec![(1, None)]);
    assert_eq!(
        summary(good.as_bytes()),
        vec![(1, None)],
        "last line without newline"
    );
    assert_eq!(summary(format!("{good}\r").as_bytes()), vec![(1, None)]);
    let mut bytes = format!("{good}\n").into_bytes();
    bytes.extend(b"{\"a\": \"\xc3\x28\"}\n");
    bytes.extend(format!("{good}\n").as_bytes());
    assert_eq!(
        summary(&bytes),
        vec![(1, None), (2, Some(NotUtf8)), (3, None)]
    );
    // A byte order mark opening the file.
    assert_eq!(
        summary(format!("\u{feff}{good}\n").as_bytes()),
        vec![(1, None)]
    );
    // The CR of a CRLF ending is not part of a JSON string's content.
    let r = read_all(format!("{}\r\n", with(json!({"jwt": "t"}))).as_bytes());
    assert_eq!(r[0].as_ref().unwrap().token.as_deref(), Some("t"));
}

/// A reader that fails after its first line.
struct Failing(Cursor<Vec<u8>>, bool);
impl std::io::Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        unreachable!()
    }
}
impl BufRead for Failing {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.1 {
            return Err(std::io::Error::other("disk on fire"));
        }
        self.0.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        self.0.consume(n);
        if self.0.position() as usize >= self.0.get_ref().len() {
            self.1 = true;
        }
    }
}

#[test]
fn an_io_error_is_reported_once_then_reading_stops() {
    let input = Failing(Cursor::new(format!("{}\n", base()).into_bytes()), false);
    let items: Vec<_> = TrafficReader::new(input).collect();
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    let e = items[1].as_ref().unwrap_err();
    assert_eq!((e.line, e.kind), (2, UnreadableKind::Io));
}

/// Reads its bytes in the given sizes, in turn, then fails if asked to.
struct Chunked {
    bytes: Vec<u8>,
    at: usize,
    sizes: Vec<usize>,
    turn: usize,
    fail: bool,
}

impl std::io::Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.bytes.len() && self.fail {
            return Err(std::io::Error::other("disk on fire"));
        }
        let size = self.sizes[self.turn % self.sizes.len()];
        self.turn += 1;
        let n = size.min(buf.len()).min(self.bytes.len() - self.at);
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Every line [`BatchReader`] yields, as (line number, bytes or the read failure's line), with
/// the given batch size.
fn batched(input: Chunked, max: usize) -> Vec<(u64, Result<Vec<u8>, u64>)> {
    batched_with(BatchReader::new(input), max)
}

/// [`batched`] from a given reader; a line too long to read is `Err(0)`.
fn batched_with(mut reader: BatchReader<Chunked>, max: usize) -> Vec<(u64, Result<Vec<u8>, u64>)> {
    let mut out = Vec::new();
    loop {
        let batch = reader.next_batch(max);
        if batch.is_empty() {
            assert!(reader.is_done(), "an empty batch is the end");
            return out;
        }
        assert!(batch.len() <= max);
        for i in 0..batch.len() {
            if batch.is_too_long(i) {
                let u = batch.parse(i).unwrap_err();
                assert_eq!((u.line, u.kind), (batch.line(i), UnreadableKind::TooLong));
                out.push((batch.line(i), Err(0)));
            } else {
                out.push((batch.line(i), Ok(batch.bytes(i).to_vec())));
            }
        }
        if let Some(u) = &batch.failed {
            assert_eq!(u.kind, UnreadableKind::Io);
            out.push((u.line, Err(u.line)));
        }
        reader.recycle(batch);
        if reader.is_done() {
            // What the replay's reader thread relies on to stop without asking again.
            assert!(reader.next_batch(max).is_empty(), "done, yet more lines");
            return out;
        }
    }
}

/// The same from [`TrafficReader`], the reference.
fn unbatched(bytes: &[u8], fail: bool) -> Vec<(u64, Result<Vec<u8>, u64>)> {
    let mut reader = TrafficReader::new(std::io::BufReader::new(Chunked {
        bytes: bytes.to_vec(),
        at: 0,
        sizes: vec![7],
        turn: 0,
        fail,
    }));
    let mut out = Vec::new();
    while let Some(item) = reader.next_raw() {
        let item = item.map(<[u8]>::to_vec);
        match item {
            Ok(line) => out.push((reader.line_no(), Ok(line))),
            Err(u) => out.push((u.line, Err(u.line))),
        }
    }
    out
}

#[test]
fn batches_hold_whole_lines_across_reads() {
    let text = b"a\r\nbb\n\nccc\r\r\n\rdd";
    for max in 1..6 {
        for size in [1, 2, 3, 1 << 20] {
            let input = Chunked {
                bytes: text.to_vec(),
                at: 0,
                sizes: vec![size],
                turn: 0,
                fail: false,
            };
            assert_eq!(batched(input, max), unbatched(text, false), "{max} {size}");
        }
    }
    let lines: Vec<Vec<u8>> = batched(
        Chunked {
            bytes: text.to_vec(),
            at: 0,
            sizes: vec![2],
            turn: 0,
            fail: false,
        },
        2,
    )
    .into_iter()
    .map(|(_, l)| l.unwrap())
    .collect();
    assert_eq!(lines, [&b"a"[..], b"bb", b"", b"ccc\r", b"\rdd"]);
}

#[test]
fn conformance_traffic_unreadable_lines() {
    let path = super::jwt::shared().join("conformance/traffic.jsonl");
    let reader = TrafficReader::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let (mut total, mut unreadable) = (0, vec![]);
    for item in reader {
        total += 1;
        if let Err(e) = item {
            unreadable.push(e.line);
        }
    }
    assert_eq!(total, 384);
    let expected = [
        21, 26, 29, 38, 40, 48, 57, 77, 88, 89, 105, 111, 117, 128, 132, 135, 140, 160, 208, 216,
        272, 274, 305, 316, 317, 325, 342, 352, 364, 384,
    ];
    assert_eq!(unreadable, expected);
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let items = read_all(&bytes);
            let newlines = bytes.iter().filter(|b| **b == b'\n').count();
            let expected = newlines + usize::from(!bytes.is_empty() && bytes.last() != Some(&b'\n'));
            prop_assert_eq!(items.len(), expected);
            for (i, item) in items.iter().enumerate() {
                let n = match item { Ok(r) => r.line, Err(e) => e.line };
                prop_assert_eq!(n, i as u64 + 1);
            }
        }

        /// Batches cut anywhere in the middle of reads yield exactly the lines, numbers and read
        /// failure of the line-by-line reader.
        #[test]
        fn batches_read_as_the_line_reader(
            bytes in prop::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), any::<u8>()], 0..300),
            sizes in prop::collection::vec(1usize..40, 1..5),
            max in 1usize..9,
            fail in any::<bool>(),
        ) {
            let input = Chunked { bytes: bytes.clone(), at: 0, sizes, turn: 0, fail };
            prop_assert_eq!(batched(input, max), unbatched(&bytes, fail));
        }

        /// Lines longer than the limit (line ending excluded) are each one unreadable line, found
        /// long before or after their end was read, and every other line reads as before.
        #[test]
        fn over_long_lines_are_single_unreadable_lines(
            lines in prop::collection::vec("[a\r]{0,30}", 0..12),
            final_newline in any::<bool>(),
            sizes in prop::collection::vec(1usize..40, 1..5),
            max in 1usize..9,
            max_line in 0usize..12,
            fail in any::<bool>(),
        ) {
            let mut bytes = lines.join("\n").into_bytes();
            if final_newline && !lines.is_empty() {
                bytes.push(b'\n');
            }
            let input = Chunked { bytes: bytes.clone(), at: 0, sizes, turn: 0, fail };
            let expected: Vec<_> = unbatched(&bytes, fail)
                .into_iter()
                .map(|(n, l)| match l {
                    Ok(line) if line.len() > max_line => (n, Err(0)),
                    other => (n, other),
                })
                .collect();
            let got = batched_with(BatchReader::with_max_line(input, max_line), max);
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn random_strings_never_panic(s in ".{0,300}") {
            let _ = parse_line(1, s.as_bytes());
        }

        /// The fast path for plain lines reads every line exactly as the general reader does:
        /// fields missing, `null`, mistyped, escaped, twice, in any order, or an array instead
        /// of an object.
        #[test]
        fn the_plain_line_fast_path_reads_as_the_general_reader(
            // Mostly the four fields a line needs, in any order, mostly well formed, then others.
            required in Just(vec![0usize, 1, 2, 3]).prop_shuffle(),
            dropped in prop::option::weighted(0.1, 0usize..4),
            extra in prop::collection::vec((0usize..11, 0usize..10), 0..3),
            kinds in prop::collection::vec(prop_oneof![3 => Just(99usize), 1 => 0usize..10], 4),
            array in prop::bool::weighted(0.05),
            spaces in prop::collection::vec(
                prop_oneof![200 => Just(""), 20 => Just(" "), 10 => Just("\t"), 10 => Just(" \r "), 1 => Just("\u{b}")],
                40,
            ),
            cut in prop::option::weighted(0.05, 0usize..200),
            // A token-long string with at most one character that makes it not plain, anywhere.
            (long, at, odd) in (
                "[A-Za-z0-9_.-]{0,300}",
                0usize..300,
                prop_oneof![8 => Just(""), 1 => Just("\t"), 1 => Just("\\"), 1 => Just("\""), 1 => Just("é"), 1 => Just("\u{1f}")],
            ),
        ) {
            let mut long = long;
            long.insert_str(at.min(long.len()), odd);
            const NAMES: [&str; 11] = ["time", "method", "url", "jwt", "ip", "country", "headers", "t\\u0069me", "timex", "i", "countryside"];
            let value = |name: &str, k: usize| -> Value {
                match (name, k) {
                    (_, 0) => Value::Null,
                    (_, 1) => json!(5),
                    (_, 2) => json!(["x"]),
                    ("time", 3) => json!("2026-11-28T10:00:00.5+01:00"),
                    ("time", _) => json!("2026-11-28T10:00:00Z"),
                    ("method", 3) => json!("PO\"ST"),
                    ("method", _) => json!("POST"),
                    ("url", 3) => json!("ftp://a.dev/x"),
                    ("url", 4) => json!("/relative"),
                    ("url", 5) => json!("https://A.dev:8443/a/../b%2F?q#f"),
                    ("url", _) => json!("https://payments.acme.dev/deploy/ledger"),
                    ("jwt", 3) => json!(""),
                    ("jwt", 4) => json!("a\tb"),
                    ("jwt", 5) => json!("a\u{1f}b"),
                    ("jwt", 6) => json!("é.ü"),
                    ("jwt", 7) => json!("aGVhZGVy.cGF5bG9hZA.c2ln"),
                    ("jwt", _) => json!(long),
                    ("ip", 3) => json!("::ffff:203.0.113.7"),
                    ("ip", 4) => json!("not-an-ip"),
                    ("ip", _) => json!("203.0.113.7"),
                    ("country", 3) => json!("Ü"),
                    ("country", 4) => json!("U\\S"),
                    ("country", _) => json!("US"),
                    (_, _) => json!({"authorization": "Bearer t0k", "cookie": "CF_Authorization=c00k"}),
                }
            };
            let fields: Vec<(usize, usize)> = required
                .iter()
                .filter(|&&f| Some(f) != dropped)
                .map(|&f| (f, kinds[f]))
                .chain(extra)
                .collect();
            // Names are written raw so that an escaped one (`t\u0069me`) stays escaped.
            let mut ws = spaces.iter().cycle();
            let members: Vec<String> = fields
                .iter()
                .map(|&(f, k)| {
                    format!("{}\"{}\"{}:{}{}{}", ws.next().unwrap(), NAMES[f], ws.next().unwrap(),
                            ws.next().unwrap(), value(NAMES[f], k), ws.next().unwrap())
                })
                .collect();
            let mut text = if array {
                format!("[{}]", fields.iter().map(|&(f, k)| value(NAMES[f], k).to_string()).collect::<Vec<_>>().join(","))
            } else {
                format!("{}{{{}}}{}", ws.next().unwrap(), members.join(","), ws.next().unwrap())
            };
            if let Some(cut) = cut {
                text = text.chars().take(cut).collect();
            }
            // The JSON escapes above become raw characters when written into the line.
            let text = text.replace("\\t", "\t");
            let general = if text.trim().is_empty() { parse_line(3, text.as_bytes()) } else { parse_general(3, &text) };
            prop_assert_eq!(parse_line(3, text.as_bytes()), general.clone(), "{:?}", text);
            // The same, with a token cache that holds every token the line may carry: the plain
            // ones are taken without a check, the others are checked as before.
            let verifier = plain_verifier();
            let mut cache = TokenCache::new();
            for t in [long.as_str(), "", "a\tb", "a\u{1f}b", "é.ü", "aGVhZGVy.cGF5bG9hZA.c2ln"] {
                let _ = verifier.verify_cached(&mut cache, Some(t), 0);
            }
            let knowing = parse_line_knowing(3, text.as_bytes(), &|raw| cache.knows_plain(raw))
                .map(|r| RecordedRequest { token_hint: None, ..r });
            prop_assert_eq!(knowing, general, "{:?} (knowing)", text);
        }

        /// The dotted-quad fast path reads digits and dots exactly as the standard IPv4 parser:
        /// the same address, or none (leading zeros, numbers over 255, parts missing or extra).
        #[test]
        fn the_dotted_quad_fast_path_reads_as_the_standard_parser(
            ip in "[0-9.]{0,17}|[0-9.+ a-]{0,8}|([0-9]{1,4}\\.){3}[0-9]{1,4}|(25[0-9]\\.){3}25[0-9]",
        ) {
            prop_assert_eq!(dotted_quad(ip.as_bytes()), ip.parse::<std::net::Ipv4Addr>().ok(), "{:?}", ip);
        }

        /// The fast path for plain URLs gives exactly the WHATWG parser's host and path (or
        /// error), on URLs built from the parts that make parsing differ: case, ports, userinfo,
        /// IPv4-like and punycode labels, empty labels, dot segments, escapes and odd characters.
        #[test]
        fn the_plain_url_fast_path_reads_as_the_whatwg_parser(
            scheme in prop::sample::select(vec!["https://", "http://", "HTTPS://", "ftp://", "https:/", "https:///", ""]),
            labels in prop::collection::vec(
                prop_oneof![
                    "[a-z][a-z0-9-]{0,6}",
                    "[0-9]{1,3}",
                    Just("0x7f".to_string()),
                    Just("xn--nxasmq6b".to_string()),
                    Just("xn--a".to_string()),
                    Just(String::new()),
                    "[A-Za-z0-9_:@\\[\\]-]{1,5}",
                ],
                0..5,
            ),
            segments in prop::collection::vec(
                prop_oneof![
                    "[a-zA-Z0-9._~!$&'()*+,;=:@-]{0,6}",
                    Just(".".to_string()),
                    Just("..".to_string()),
                    Just("%2e".to_string()),
                    Just("%2F".to_string()),
                    ".{0,3}",
                ],
                0..5,
            ),
            tail in prop_oneof![Just(String::new()), "[?#].{0,6}", Just("?a=1&b=%zz#f g".to_string())],
        ) {
            let url = format!("{scheme}{}/{}{tail}", labels.join("."), segments.join("/"));
            prop_assert_eq!(parse_url(&url), parse_url_general(&url), "{}", url);
        }

        /// The fast path for `YYYY-MM-DDTHH:MM:SSZ` reads every such string (valid or not: month
        /// 13, February 29th, second 60, ...) exactly as the general RFC 3339 parser does.
        #[test]
        fn the_plain_time_fast_path_reads_as_the_rfc3339_parser(
            y in prop_oneof![0i64..=9999, 1968i64..=2101],
            mo in 0i64..=13, d in prop_oneof![0i64..=32, 27i64..=32], h in 0i64..=24,
            mi in 0i64..=60, s in 0i64..=61,
            t in prop_oneof![8 => Just('T'), 1 => Just('t'), 1 => Just(' ')],
            z in prop_oneof![8 => Just("Z"), 1 => Just("z"), 1 => Just("+00:00"), 1 => Just("-01:30"), 1 => Just(".5Z")],
        ) {
            use time::format_description::well_known::Rfc3339;
            let text = format!("{y:04}-{mo:02}-{d:02}{t}{h:02}:{mi:02}:{s:02}{z}");
            let general = time::OffsetDateTime::parse(&text, &Rfc3339).ok().map(|t| t.unix_timestamp());
            prop_assert_eq!(edgeward::input::parse_rfc3339(&text), general, "{}", text);
        }

        /// The same with one character of a valid time replaced: every byte the digit check
        /// must refuse (those just past `9`, below `0`, letters) or take, at every position.
        #[test]
        fn the_plain_time_fast_path_refuses_what_the_rfc3339_parser_refuses(
            at in 0usize..20,
            c in prop_oneof![Just('/'), Just(':'), Just(';'), Just('?'), Just('@'), Just('O'), Just('o'),
                             Just('-'), Just('T'), Just('Z'), Just(' '), Just('\u{0}'), Just('0'), Just('9'),
                             Just('5'), Just('é')],
        ) {
            use time::format_description::well_known::Rfc3339;
            let mut text: Vec<char> = "2026-11-28T10:39:59Z".chars().collect();
            text[at] = c;
            let text: String = text.into_iter().collect();
            let general = time::OffsetDateTime::parse(&text, &Rfc3339).ok().map(|t| t.unix_timestamp());
            prop_assert_eq!(edgeward::input::parse_rfc3339(&text), general, "{}", text);
        }

        #[test]
        fn json_shaped_lines_never_panic(
            time in prop_oneof![Just(json!("2026-11-28T10:00:00Z")), any::<String>().prop_map(Value::from), any::<i64>().prop_map(Value::from)],
            url in prop_oneof![Just(json!("https://a.dev/x")), any::<String>().prop_map(|s| Value::from(format!("http://{s}")))],
            ip in prop_oneof![Just(Value::Null), any::<String>().prop_map(Value::from), any::<[u8; 16]>().prop_map(|b| Value::from(IpAddr::from(b).to_string()))],
            auth in any::<String>(),
            cookie in any::<String>(),
        ) {
            let v = json!({"time": time, "method": "GET", "url": url, "ip": ip,
                           "headers": {"Authorization": auth, "Cookie": cookie}});
            let _ = parse_line(1, v.to_string().as_bytes());
        }
    }
}

/// `line` with `member` (raw JSON text, `"key": value`) added as the object's first member.
fn raw_with(member: &str, v: Value) -> Result<RecordedRequest<'static>, Unreadable> {
    let text = v.to_string();
    let text = format!("{{{member},{}", &text[1..]);
    parse_line(7, text.as_bytes()).map(RecordedRequest::into_owned)
}

/// §4: unknown fields are ignored, whatever valid JSON they hold, and so are unknown headers.
#[test]
fn unknown_fields_are_ignored_whatever_they_hold() {
    let full = with(json!({"jwt": "eyJ.x.y", "ip": "203.0.113.7", "country": "US"}));
    let expected = ok(full.clone());
    let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
    for member in [
        r#""note": "\ud800""#.to_owned(),
        r#""note": "\udc00\ud800x""#.to_owned(),
        r#""note": 1e400"#.to_owned(),
        r#""note": -1e99999"#.to_owned(),
        format!(r#""note": {deep}"#),
        format!(r#""note": {{"a": {deep}}}"#),
        r#""\ud800": 1"#.to_owned(),
    ] {
        assert_eq!(
            raw_with(&member, full.clone()),
            Ok(expected.clone()),
            "{member}"
        );
    }
    let headers = json!({"headers": {"authorization": "Bearer t0k"}});
    let expected = ok(with(headers.clone()));
    let mut v = with(headers);
    v["headers"] = json!({"x-note": "placeholder", "authorization": "Bearer t0k"});
    let text = v
        .to_string()
        .replace(r#""placeholder""#, &format!("[\"\\ud800\", 1e400, {deep}]"));
    let got = parse_line(7, text.as_bytes()).map(RecordedRequest::into_owned);
    assert_eq!(got, Ok(expected));
    // Still JSON only: one bad byte anywhere makes the line unreadable.
    for member in [r#""note": "\uZZZZ""#, r#""note": tru"#, r#""note": [1,]"#] {
        let kind = raw_with(member, full.clone()).unwrap_err().kind;
        assert_eq!(kind, UnreadableKind::NotJson, "{member}");
    }
    assert_eq!(
        parse_line(7, b"[1e400, \"\\ud800\"]").unwrap_err().kind,
        UnreadableKind::NotObject
    );
}

/// A field the request needs holding what the reader cannot take: a value of another type is the
/// field's own reason; an escaped lone surrogate is text that is not Unicode.
#[test]
fn needed_fields_holding_the_unrepresentable() {
    let kind = |member: &str, v: Value| raw_with(member, v).unwrap_err();
    let cases = [
        (r#""time": 1e400"#, "time", UnreadableKind::BadTime),
        (
            r#""method": 1e400"#,
            "method",
            UnreadableKind::MethodNotString,
        ),
        (r#""ip": 1e400"#, "ip", UnreadableKind::BadIp),
        (
            r#""country": 1e400"#,
            "country",
            UnreadableKind::CountryNotString,
        ),
        (r#""jwt": 1e400"#, "jwt", UnreadableKind::JwtNotString),
        (
            r#""url": "https://a.dev/\ud800""#,
            "url",
            UnreadableKind::NotUtf8,
        ),
        (r#""jwt": "\ud800""#, "jwt", UnreadableKind::NotUtf8),
    ];
    for (member, name, expected) in cases {
        // The member comes first; the line's own field of that name is dropped.
        let v = with(json!({ name: "<remove>" }));
        let u = kind(member, v);
        assert_eq!(u.kind, expected, "{member}: {u:?}");
        if expected == UnreadableKind::NotUtf8 {
            assert!(u.error.contains(name), "{u:?}");
        }
    }
    // A header is read only when its turn comes: a token found first stands.
    let headers = |h: &str| {
        let mut v = with(json!({"headers": {}}));
        v["headers"] = json!({});
        let text = v.to_string().replace("{}", h);
        parse_line(7, text.as_bytes()).map(|r| r.token.map(String::from))
    };
    assert_eq!(
        headers(r#"{"cf-access-jwt-assertion": "t0k", "cookie": "\ud800"}"#),
        Ok(Some("t0k".into()))
    );
    assert_eq!(
        headers(r#"{"authorization": "\ud800", "cookie": "CF_Authorization=c"}"#)
            .unwrap_err()
            .kind,
        UnreadableKind::NotUtf8
    );
    assert_eq!(
        headers(r#"{"authorization": 1e400, "cookie": "CF_Authorization=c"}"#),
        Ok(Some("c".into()))
    );
}

/// A byte order mark opens any line, not only the file's first: files joined with `cat` read as
/// one. A line holding only one is blank.
#[test]
fn a_byte_order_mark_opens_any_line() {
    let text = format!("\u{feff}{}\n\u{feff}{}\n\u{feff}\n", base(), base());
    let items: Vec<_> = TrafficReader::new(Cursor::new(text.into_bytes())).collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].as_ref().unwrap().line, 1);
    assert_eq!(items[1].as_ref().unwrap().line, 2);
    assert_eq!(items[2].as_ref().unwrap_err().kind, UnreadableKind::Blank);
}

/// Space and tab around `jwt`, `ip` and `country` are not part of them, as the Worker's runtime
/// strips them from the headers these fields stand for; on both reading paths.
#[test]
fn space_around_header_fields_is_not_part_of_them() {
    let padded = with(json!({"jwt": " eyJ.x.y\t", "ip": "\t203.0.113.7 ", "country": " KP "}));
    let r = ok(padded.clone());
    assert_eq!(r.token.as_deref(), Some("eyJ.x.y"));
    assert_eq!(r.ip, Some("203.0.113.7".parse().unwrap()));
    assert_eq!(r.country.as_deref(), Some("KP"));
    assert_eq!(parse_general(7, &padded.to_string()).unwrap(), r);
    // Other spaces stay: a no-break space is not HTTP whitespace.
    let r = ok(with(json!({"jwt": "\u{a0}eyJ.x.y", "country": "KP\u{a0}"})));
    assert_eq!(r.token.as_deref(), Some("\u{a0}eyJ.x.y"));
    assert_eq!(r.country.as_deref(), Some("KP\u{a0}"));
    let u = line(with(json!({"ip": "\u{a0}203.0.113.7"}))).unwrap_err();
    assert_eq!(u.kind, UnreadableKind::BadIp);
}

/// The path is the WHATWG URL Standard's, as the Worker's `new URL()` gives it (expected values
/// from Node's WHATWG parser), where the `url` crate departs from it: a Windows drive letter
/// segment is an ordinary segment outside `file:` URLs, and `^` is percent-encoded.
#[test]
fn paths_are_the_whatwg_standards() {
    for (url, path) in [
        ("https://h.dev/c:/../admin", "/admin"),
        ("https://h.dev/c:/..", "/"),
        ("https://h.dev/x/c:/..", "/x/"),
        ("https://h.dev/c|/..", "/"),
        ("https://h.dev/C:/a/../../b", "/b"),
        ("https://h.dev/c:/%2e%2e/b", "/b"),
        ("http://h.dev/c:\\..\\admin", "/admin"),
        ("https://h.dev/c:", "/c:"),
        ("https://h.dev/c|", "/c|"),
        ("https://h.dev/a/c:", "/a/c:"),
        ("https://h.dev/p/^", "/p/%5E"),
        ("https://h.dev", "/"),
        ("https://h.dev?q", "/"),
        ("https://h.dev#f", "/"),
        (
            "https://h.dev/a b/\"<>`{}/é",
            "/a%20b/%22%3C%3E%60%7B%7D/%C3%A9",
        ),
        ("https:h.dev/a/./b/../c/", "/a/c/"),
        ("https:\\\\h.dev\\a\\.", "/a/"),
        (" \thttps://h.dev/a\t/b\n/c \u{1}", "/a/b/c"),
        ("https://u:p@h.dev:8443/%2E/x/%2e%2E?y/../z#/..", "/"),
    ] {
        assert_eq!(parse_url(url).unwrap().path, path, "{url}");
        assert_eq!(
            edgeward::input::url_path(url),
            path,
            "{url} (the general parser)"
        );
    }
}

mod whatwg_paths {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Away from drive letters (no `:` or `|` in the path) the path is the `url` crate's, with
        /// `^` encoded: both implement the same standard.
        #[test]
        fn agree_with_the_url_crate_away_from_drive_letters(
            scheme in prop_oneof![Just("https://"), Just("http://"), Just("HTTPS:"), Just("http:\\\\")],
            pieces in prop::collection::vec(
                prop_oneof![
                    Just("/"), Just("\\"), Just("."), Just(".."), Just("%2e"), Just("%2E"), Just("a"),
                    Just("b c"), Just("^"), Just("é"), Just("%"), Just("%41"), Just("\t"), Just("\""),
                    Just("{}"), Just("?"), Just("#"), Just("~"), Just("\u{7f}"), Just("\u{1}"),
                ],
                0..12,
            ),
        ) {
            let url = format!("{scheme}h.dev/{}", pieces.concat());
            if let Ok(parsed) = url::Url::parse(&url) {
                prop_assert_eq!(edgeward::input::url_path(&url), parsed.path().replace('^', "%5E"), "{}", url);
            }
        }
    }
}
