//! A reproducible recorded-traffic generator: §4 JSON Lines with RS256 tokens, the same bytes for the same seed.
//!
//! The demo and the benches make as much traffic as they need from a [`TrafficSpec`] (seed,
//! size, time span), a [`Population`] (who calls what: catalog users, service tokens,
//! strangers, and the endpoints they hit) and a [`Signer`] (the test key that signs the
//! tokens). The output mixes what real edge logs hold: mostly signed-in users reusing one
//! token per session, service tokens, expired, garbage and missing tokens, tokens of an
//! unknown key, paths no route matches, components the catalog lacks, and a few lines that
//! cannot be read at all. Token sources vary (`jwt`, `cf-access-jwt-assertion`,
//! `authorization: Bearer`, the `CF_Authorization` cookie).
//!
//! Signing is the cost (about a millisecond per RSA signature), so tokens are signed once
//! per session and reused; 20,000 requests sign a few hundred tokens.
//!
//! ```
//! use edgeward::sim::generate::{generate, Endpoint, Population, Signer, TrafficSpec, UserSpec};
//! # let pem = include_str!("../../examples/acme/keys/rsa-2048.pem");
//! let population = Population {
//!     users: vec![UserSpec { email: "jane@acme.dev".into(), groups: vec!["team-payments".into()], department: None }],
//!     endpoints: vec![Endpoint::new("GET", "payments.acme.dev", "/api/v1/payments/{id}")],
//!     ..Population::default()
//! };
//! let signer = Signer::from_rsa_pem(pem.as_bytes(), "kid-1", "my-aud", "https://acme.cloudflareaccess.com").unwrap();
//! let spec = TrafficSpec { requests: 50, ..TrafficSpec::default() };
//! let mut out = Vec::new();
//! let stats = generate(&spec, &population, &signer, &mut out).unwrap();
//! assert_eq!(stats.lines, 50);
//! assert_eq!(String::from_utf8(out).unwrap().lines().count(), 50);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::catalog::Catalog;

/// How much traffic, over what time, from which seed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficSpec {
    /// The PRNG seed: the same spec, population and key give the same bytes.
    pub seed: u64,
    /// Lines to write (unreadable lines included).
    pub requests: u64,
    /// Days the traffic spans, from `start`.
    pub days: u32,
    /// Unix seconds of the first day's midnight (UTC).
    pub start: i64,
    /// How long a sign-in lasts: one token per identity and session, reused for its requests.
    pub session_hours: u32,
    /// How often each kind of unusual request happens.
    pub mix: Mix,
}

impl Default for TrafficSpec {
    /// 20,000 requests over ten days from 2026-12-14 (the acme example's freeze starts on the 20th).
    fn default() -> Self {
        TrafficSpec {
            seed: 0x5eed_0a4d_2026,
            requests: 20_000,
            days: 10,
            start: 1_797_206_400, // 2026-12-14T00:00:00Z
            session_hours: 24,
            mix: Mix::default(),
        }
    }
}

/// Rates per 10,000 requests of each kind of unusual request; the rest are signed-in users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    /// Requests with an Access service token (`common_name`).
    pub service: u32,
    /// Valid tokens of people the catalog does not know.
    pub stranger: u32,
    /// Tokens whose `exp` has passed (a stale session).
    pub expired: u32,
    /// Tokens that are not JWTs, are truncated, unsigned or tampered with.
    pub garbage: u32,
    /// Requests without any token.
    pub missing: u32,
    /// Tokens signed under a `kid` the JWKS lacks (a retired key).
    pub unknown_kid: u32,
    /// Paths no route matches (scanners, typos, old clients).
    pub unknown_route: u32,
    /// Templated targets the catalog lacks (`/deploy/no-such-service`).
    pub unknown_component: u32,
    /// Users calling an endpoint outside their usual ones.
    pub wandering: u32,
    /// Requests from an embargoed country.
    pub embargoed: u32,
    /// Lines that cannot be read (blank, not JSON, a bad time, ...).
    pub unreadable: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            service: 800,
            stranger: 100,
            expired: 100,
            garbage: 50,
            missing: 50,
            unknown_kid: 20,
            unknown_route: 150,
            unknown_component: 40,
            wandering: 800,
            embargoed: 10,
            unreadable: 10,
        }
    }
}

/// A person the catalog knows, as their identity provider signs them in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserSpec {
    pub email: String,
    /// Group names: sent as the Okta `groups` claim, and matched against [`Endpoint::audience`].
    #[serde(default)]
    pub groups: Vec<String>,
    /// Sent as the `department` claim when present.
    #[serde(default)]
    pub department: Option<String>,
}

/// An Access service token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServiceSpec {
    /// The client id, sent as `common_name`; matched against [`Endpoint::audience`].
    pub common_name: String,
}

/// A shape of request that callers make: a method, a host and a path pattern.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Endpoint {
    /// `GET`, `GET|HEAD` (one picked per request, the first most often) or `ANY`.
    pub method: String,
    pub host: String,
    /// A route pattern: `{param}` segments are filled from [`Endpoint::params`] (else a
    /// number), a final `*` from [`Endpoint::rest`] (else nothing).
    pub path: String,
    /// Values for each `{param}`.
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    /// Values for a final `*` (may contain `/`).
    #[serde(default)]
    pub rest: Vec<String>,
    /// Who calls it: group names of users, or service `common_name`s. Empty: every user.
    #[serde(default)]
    pub audience: Vec<String>,
    /// Relative frequency among the endpoints a caller picks from.
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

impl Endpoint {
    /// An endpoint for every user, weight 1, no param values.
    pub fn new(method: &str, host: &str, path: &str) -> Endpoint {
        Endpoint {
            method: method.to_string(),
            host: host.to_string(),
            path: path.to_string(),
            params: BTreeMap::new(),
            rest: Vec::new(),
            audience: Vec::new(),
            weight: 1,
        }
    }
}

/// Who calls what. Reads from JSON (`examples/acme/traffic-profile.json`); users usually come
/// from the catalog ([`Population::add_catalog_users`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Population {
    #[serde(default)]
    pub users: Vec<UserSpec>,
    #[serde(default)]
    pub services: Vec<ServiceSpec>,
    /// Emails of people the catalog does not know (valid tokens, no principal).
    #[serde(default)]
    pub strangers: Vec<String>,
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Paths that no route should match, tried on the endpoints' hosts.
    #[serde(default)]
    pub unknown_paths: Vec<String>,
    /// Values for a `{name}` that the catalog lacks.
    #[serde(default)]
    pub unknown_names: Vec<String>,
    /// Country codes of the embargoed requests.
    #[serde(default)]
    pub embargoed_countries: Vec<String>,
}

impl Population {
    /// Reads a population (a traffic profile) from JSON.
    pub fn from_json(text: &str) -> Result<Population, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Adds every catalog User with a `spec.profile.email`, in source order: their groups
    /// are the groups they are directly in, their department the first `department`-typed
    /// group above them.
    pub fn add_catalog_users(&mut self, catalog: &Catalog) {
        for id in catalog.of_kind("User") {
            let Some(email) = catalog
                .field(id, &["spec", "profile", "email"])
                .and_then(Value::as_str)
            else {
                continue;
            };
            let name = |g| catalog.entity(g).map(|e| e.name.clone());
            let groups = catalog
                .direct_groups(id)
                .iter()
                .filter_map(|&g| name(g))
                .collect();
            let department = catalog
                .all_groups(id)
                .iter()
                .find(|&&g| {
                    catalog.field(g, &["spec", "type"]).and_then(Value::as_str)
                        == Some("department")
                })
                .and_then(|&g| name(g));
            self.users.push(UserSpec {
                email: email.to_string(),
                groups,
                department,
            });
        }
    }
}

/// The key that signs the tokens, and what the tokens say about their audience and issuer.
pub struct Signer {
    key: EncodingKey,
    kid: String,
    aud: String,
    iss: String,
}

impl Signer {
    /// An RS256 signer from a PEM private key (PKCS#1 or PKCS#8).
    pub fn from_rsa_pem(pem: &[u8], kid: &str, aud: &str, iss: &str) -> io::Result<Signer> {
        let key = EncodingKey::from_rsa_pem(pem)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Signer {
            key,
            kid: kid.to_string(),
            aud: aud.to_string(),
            iss: iss.to_string(),
        })
    }

    fn sign(&self, kid: &str, claims: &Value) -> io::Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &self.key).map_err(io::Error::other)
    }
}

/// What a run wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lines written, unreadable ones included.
    pub lines: u64,
    /// Lines written on purpose to be unreadable.
    pub unreadable: u64,
    /// Distinct tokens signed (the cost of a run).
    pub tokens_signed: u64,
    /// Lines per kind of caller or mishap: `user`, `service`, `stranger`, `expired`,
    /// `garbage`, `missing`, `unknown_kid`, `unreadable`.
    pub by_kind: BTreeMap<&'static str, u64>,
}

/// splitmix64: a tiny, well-mixed PRNG (Steele, Lea and Flood), enough for test traffic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`0` when `n == 0`).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// True `per_10k` times in 10,000.
    fn chance(&mut self, per_10k: u32) -> bool {
        self.below(10_000) < u64::from(per_10k)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }

    /// An index drawn by weight (`None` when every weight is zero).
    fn weighted(&mut self, weights: &[u64]) -> Option<usize> {
        let total: u64 = weights.iter().sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return Some(i);
            }
            x -= w;
        }
        None
    }
}

/// A stable 64-bit hash of a string (FNV-1a), for per-identity traits.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Who makes a request.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Caller {
    User(usize),
    Service(usize),
    Stranger(usize),
}

/// What kind of token a session carries.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum TokenKind {
    Valid,
    Expired,
    UnknownKid,
}

const COUNTRIES: [&str; 8] = ["US", "US", "GB", "DE", "IN", "JP", "BR", "FR"];
const REST: [&str; 6] = [
    "",
    "index.html",
    "assets/app.js",
    "settings",
    "d/latency",
    "v1/items",
];

/// Writes `spec.requests` lines of recorded traffic to `out`.
///
/// Fails only when writing fails, when the signer fails, or when the population has no
/// users, services or endpoints to draw from (`InvalidInput`).
pub fn generate(
    spec: &TrafficSpec,
    population: &Population,
    signer: &Signer,
    out: &mut impl Write,
) -> io::Result<Stats> {
    if population.endpoints.is_empty() || population.users.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a traffic population needs at least one user and one endpoint",
        ));
    }
    let mut g = Gen {
        spec,
        pop: population,
        signer,
        rng: Rng(spec.seed),
        tokens: HashMap::new(),
        stats: Stats::default(),
    };
    for t in g.times() {
        let line = g.line(t)?;
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        g.stats.lines += 1;
    }
    Ok(g.stats)
}

struct Gen<'a> {
    spec: &'a TrafficSpec,
    pop: &'a Population,
    signer: &'a Signer,
    rng: Rng,
    /// (caller, session, kind) → token.
    tokens: HashMap<(Caller, i64, TokenKind), String>,
    stats: Stats,
}

impl Gen<'_> {
    /// The request times, sorted: spread over the days by hour, busier on weekday working hours.
    fn times(&mut self) -> Vec<i64> {
        let hours = i64::from(self.spec.days.max(1)) * 24;
        let weights: Vec<u64> = (0..hours)
            .map(|h| {
                let hour_of_day = h % 24;
                // 2026-12-14 is a Monday; any start works, weekends are just quieter.
                let day = (self.spec.start.div_euclid(86_400) + h / 24 + 3).rem_euclid(7);
                let base = match hour_of_day {
                    8..=17 => 10,
                    6 | 7 | 18..=21 => 4,
                    _ => 1,
                };
                if day >= 5 { base.max(2) / 2 } else { base }
            })
            .collect();
        let total: u64 = weights.iter().sum();
        let n = self.spec.requests;
        let mut times = Vec::new();
        let mut acc = 0u64;
        let mut emitted = 0u64;
        for (h, w) in weights.iter().enumerate() {
            acc += w;
            let upto = (u128::from(n) * u128::from(acc) / u128::from(total.max(1))) as u64;
            let mut hour: Vec<i64> = (emitted..upto)
                .map(|_| self.rng.below(3_600) as i64)
                .collect();
            hour.sort_unstable();
            let base = self.spec.start + h as i64 * 3_600;
            times.extend(hour.into_iter().map(|s| base + s));
            emitted = upto;
        }
        times
    }

    fn count(&mut self, kind: &'static str) {
        *self.stats.by_kind.entry(kind).or_default() += 1;
    }

    fn line(&mut self, t: i64) -> io::Result<String> {
        let mix = &self.spec.mix;
        if self.rng.chance(mix.unreadable) {
            self.count("unreadable");
            self.stats.unreadable += 1;
            return Ok(self.unreadable_line(t));
        }
        // Who calls, and with what token.
        let roll = self.rng.below(10_000) as u32;
        let mut bands = [
            ("missing", mix.missing),
            ("garbage", mix.garbage),
            ("expired", mix.expired),
            ("unknown_kid", mix.unknown_kid),
            ("service", mix.service),
            ("stranger", mix.stranger),
        ]
        .into_iter()
        .scan(0u32, |acc, (k, r)| {
            *acc += r;
            Some((k, *acc))
        });
        let kind = bands
            .find(|&(_, upto)| roll < upto)
            .map_or("user", |(k, _)| k);
        let kind = match kind {
            "service" if self.pop.services.is_empty() => "user",
            "stranger" if self.pop.strangers.is_empty() => "user",
            k => k,
        };
        self.count(kind);
        let caller = match kind {
            "service" => Caller::Service(self.rng.below(self.pop.services.len() as u64) as usize),
            "stranger" => {
                Caller::Stranger(self.rng.below(self.pop.strangers.len() as u64) as usize)
            }
            _ => Caller::User(self.user_index()),
        };
        let token = match kind {
            "missing" => None,
            "garbage" => Some(self.garbage(caller, t)?),
            "expired" => Some(self.token(caller, t, TokenKind::Expired)?),
            "unknown_kid" => Some(self.token(caller, t, TokenKind::UnknownKid)?),
            _ => Some(self.token(caller, t, TokenKind::Valid)?),
        };
        let (method, url) = self.request(caller);
        Ok(self.render(t, &method, &url, token, caller))
    }

    /// Users are not equally busy: a few make most requests.
    fn user_index(&mut self) -> usize {
        let n = self.pop.users.len() as u64;
        // The minimum of two draws leans towards the first users; shuffle that by a fixed stride.
        let a = self.rng.below(n).min(self.rng.below(n));
        ((a * 7 + 3) % n) as usize
    }

    fn identity(&self, caller: Caller) -> (String, u64) {
        let name = match caller {
            Caller::User(i) => self.pop.users.get(i).map(|u| u.email.as_str()),
            Caller::Service(i) => self.pop.services.get(i).map(|s| s.common_name.as_str()),
            Caller::Stranger(i) => self.pop.strangers.get(i).map(String::as_str),
        };
        let name = name.unwrap_or("");
        (name.to_string(), fnv(name))
    }

    /// The session's token, signed on first use.
    fn token(&mut self, caller: Caller, t: i64, kind: TokenKind) -> io::Result<String> {
        let session_len = i64::from(self.spec.session_hours.max(1)) * 3_600;
        let session = (t - self.spec.start).div_euclid(session_len);
        if let Some(tok) = self.tokens.get(&(caller, session, kind)) {
            return Ok(tok.clone());
        }
        let (name, h) = self.identity(caller);
        let iat = match kind {
            // signed in a little before this first request
            TokenKind::Valid | TokenKind::UnknownKid => t - self.rng.below(600) as i64,
            // a session that ended hours ago
            TokenKind::Expired => t - session_len - 3_600 - self.rng.below(7_200) as i64,
        };
        // Lives to the end of its session window, with an hour to spare.
        let exp = match kind {
            TokenKind::Expired => iat + session_len,
            _ => iat + session_len + 3_600,
        };
        let mut c = Map::new();
        c.insert("aud".into(), json!([self.signer.aud]));
        let nonce = format!("{:016x}", self.rng.next());
        match caller {
            Caller::Service(_) => {
                c.insert("exp".into(), json!(exp));
                c.insert("iat".into(), json!(iat));
                c.insert("iss".into(), json!(self.signer.iss));
                c.insert("common_name".into(), json!(name));
                c.insert("type".into(), json!("app"));
                c.insert("identity_nonce".into(), json!(""));
                c.insert("sub".into(), json!(""));
            }
            Caller::User(_) | Caller::Stranger(_) => {
                c.insert("email".into(), json!(name));
                c.insert("exp".into(), json!(exp));
                c.insert("iat".into(), json!(iat));
                c.insert("nbf".into(), json!(iat));
                c.insert("iss".into(), json!(self.signer.iss));
                c.insert("type".into(), json!("app"));
                c.insert("identity_nonce".into(), json!(nonce));
                c.insert("sub".into(), json!(uuid_of(h)));
                c.insert("country".into(), json!(home_country(h)));
                // three sessions in four signed in with a second factor
                let amr = if self.rng.chance(7_500) {
                    json!(["pwd", "mfa"])
                } else {
                    json!(["pwd"])
                };
                c.insert("amr".into(), amr);
                if let Caller::User(i) = caller
                    && let Some(u) = self.pop.users.get(i)
                {
                    if !u.groups.is_empty() {
                        let mut groups = u.groups.clone();
                        groups.push("Everyone".into());
                        c.insert("groups".into(), json!(groups));
                    }
                    if let Some(d) = &u.department {
                        c.insert("department".into(), json!(d));
                    }
                }
            }
        }
        let kid = match kind {
            TokenKind::UnknownKid => "retired-2025-rsa",
            _ => self.signer.kid.as_str(),
        };
        let tok = self.signer.sign(kid, &Value::Object(c))?;
        self.stats.tokens_signed += 1;
        self.tokens.insert((caller, session, kind), tok.clone());
        Ok(tok)
    }

    /// A token that fails verification before its claims are read.
    fn garbage(&mut self, caller: Caller, t: i64) -> io::Result<String> {
        Ok(match self.rng.below(6) {
            0 => String::new(),
            1 => "not-a-jwt".to_string(),
            // alg none
            2 => "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJlbWFpbCI6ImphbmVAYWNtZS5kZXYifQ."
                .to_string(),
            3 => {
                // truncated in transit
                let tok = self.token(caller, t, TokenKind::Valid)?;
                tok.get(..tok.len() / 2).unwrap_or("").to_string()
            }
            4 => {
                // a forged payload under a real signature
                let tok = self.token(caller, t, TokenKind::Valid)?;
                let mut parts = tok.splitn(3, '.');
                let (h, _, s) = (parts.next(), parts.next(), parts.next());
                format!(
                    "{}.eyJlbWFpbCI6InJvb3RAYWNtZS5kZXYiLCJleHAiOjQxMDI0NDQ4MDB9.{}",
                    h.unwrap_or(""),
                    s.unwrap_or("")
                )
            }
            _ => {
                // a signature that does not match
                let tok = self.token(caller, t, TokenKind::Valid)?;
                let mut s = tok.trim_end_matches(['A', 'B']).to_string();
                s.push_str("AB");
                s
            }
        })
    }

    /// The method and URL of a request from `caller`.
    fn request(&mut self, caller: Caller) -> (String, String) {
        let mix = self.spec.mix.clone();
        let eps = &self.pop.endpoints;
        if self.rng.chance(mix.unknown_route) && !self.pop.unknown_paths.is_empty() {
            let host = self
                .rng
                .pick(eps)
                .map_or("example.com", |e| e.host.as_str())
                .to_string();
            let path = self
                .rng
                .pick(&self.pop.unknown_paths)
                .cloned()
                .unwrap_or_default();
            let method = if self.rng.chance(8_000) {
                "GET"
            } else {
                "POST"
            };
            return (method.to_string(), format!("https://{host}{path}"));
        }
        let audience_of = |e: &Endpoint| -> bool {
            match caller {
                Caller::User(i) => {
                    let groups = self.pop.users.get(i).map_or(&[][..], |u| &u.groups[..]);
                    e.audience.is_empty() || e.audience.iter().any(|a| groups.contains(a))
                }
                Caller::Service(i) => {
                    let cn = self.pop.services.get(i).map(|s| s.common_name.as_str());
                    e.audience.iter().any(|a| Some(a.as_str()) == cn)
                }
                Caller::Stranger(_) => e.audience.is_empty(),
            }
        };
        let wander = matches!(caller, Caller::User(_)) && self.rng.chance(mix.wandering);
        let weights: Vec<u64> = eps
            .iter()
            .map(|e| {
                let usual = audience_of(e);
                let w = u64::from(e.weight);
                if wander || usual { w } else { 0 }
            })
            .collect();
        let idx = self
            .rng
            .weighted(&weights)
            .or_else(|| self.rng.weighted(&vec![1; eps.len()]))
            .unwrap_or(0);
        let Some(ep) = eps.get(idx) else {
            return ("GET".into(), "https://example.com/".into());
        };
        let unknown_name = self.rng.chance(mix.unknown_component);
        let method = self.method(&ep.method);
        let mut path = String::new();
        for seg in ep.path.split('/').skip(1) {
            path.push('/');
            if seg == "*" {
                let rest = if ep.rest.is_empty() {
                    self.rng.pick(&REST).copied().unwrap_or("").to_string()
                } else {
                    self.rng.pick(&ep.rest).cloned().unwrap_or_default()
                };
                path.push_str(&rest);
            } else if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let value = match ep.params.get(name) {
                    Some(_) if unknown_name && !self.pop.unknown_names.is_empty() => {
                        self.rng.pick(&self.pop.unknown_names).cloned()
                    }
                    Some(values) => self.rng.pick(values).cloned(),
                    None => None,
                };
                let value = value.unwrap_or_else(|| (1 + self.rng.below(99_999)).to_string());
                path.push_str(&value);
            } else {
                path.push_str(seg);
            }
        }
        if path.is_empty() {
            path.push('/');
        }
        (method, format!("https://{}{}", ep.host, path))
    }

    fn method(&mut self, methods: &str) -> String {
        if methods == "ANY" {
            let m = ["GET", "GET", "GET", "POST", "PUT", "DELETE"];
            return self.rng.pick(&m).copied().unwrap_or("GET").to_string();
        }
        let ms: Vec<&str> = methods.split('|').collect();
        // the first method listed is the usual one
        if ms.len() > 1 && self.rng.chance(1_000) {
            ms.get(1 + self.rng.below(ms.len() as u64 - 1) as usize)
                .copied()
                .unwrap_or("GET")
                .to_string()
        } else {
            ms.first().copied().unwrap_or("GET").to_string()
        }
    }

    fn render(
        &mut self,
        t: i64,
        method: &str,
        url: &str,
        token: Option<String>,
        caller: Caller,
    ) -> String {
        let mut o = Map::new();
        o.insert("time".into(), json!(rfc3339(t)));
        o.insert("method".into(), json!(method));
        o.insert("url".into(), json!(url));
        if let Some(tok) = token {
            let source = self.rng.below(20);
            // An empty token travels in `jwt` only: HTTP trims header values, so an empty
            // `Bearer ` would not survive a real proxy the way the recording says.
            match if tok.is_empty() { 0 } else { source } {
                0..=7 => {
                    o.insert("jwt".into(), json!(tok));
                }
                8..=13 => {
                    let name = if self.rng.chance(5_000) {
                        "cf-access-jwt-assertion"
                    } else {
                        "Cf-Access-Jwt-Assertion"
                    };
                    o.insert("headers".into(), json!({ name: tok }));
                }
                14..=16 => {
                    let scheme = if self.rng.chance(9_000) {
                        "Bearer"
                    } else {
                        "bearer"
                    };
                    o.insert(
                        "headers".into(),
                        json!({"authorization": format!("{scheme} {tok}")}),
                    );
                }
                _ => {
                    let cookie = if self.rng.chance(5_000) {
                        format!("CF_Authorization={tok}")
                    } else {
                        format!("theme=dark; CF_Authorization={tok}; _ga=GA1.2.1")
                    };
                    o.insert(
                        "headers".into(),
                        json!({"cookie": cookie, "user-agent": "Mozilla/5.0"}),
                    );
                }
            }
        }
        let (_, h) = self.identity(caller);
        match caller {
            Caller::Service(_) => {
                o.insert(
                    "ip".into(),
                    json!(format!(
                        "10.{}.{}.{}",
                        h % 8,
                        (h >> 8) % 256,
                        1 + (h >> 16) % 250
                    )),
                );
            }
            _ => {
                let ip = if h % 5 == 0 {
                    format!(
                        "2001:db8:{:x}::{:x}",
                        (h >> 8) % 0xffff,
                        1 + self.rng.below(200)
                    )
                } else if h % 2 == 0 {
                    format!("203.0.113.{}", 1 + (h >> 8) % 250)
                } else {
                    format!("198.51.100.{}", 1 + (h >> 8) % 250)
                };
                if !self.rng.chance(300) {
                    o.insert("ip".into(), json!(ip));
                }
                let country = if self.rng.chance(self.spec.mix.embargoed)
                    && let Some(c) = self.rng.pick(&self.pop.embargoed_countries)
                {
                    Some(c.clone())
                } else if self.rng.chance(200) {
                    None
                } else {
                    Some(home_country(h).to_string())
                };
                if let Some(c) = country {
                    o.insert("country".into(), json!(c));
                }
            }
        }
        Value::Object(o).to_string()
    }

    /// A line that §4 counts as unreadable.
    fn unreadable_line(&mut self, t: i64) -> String {
        let host = self
            .pop
            .endpoints
            .first()
            .map_or("example.com", |e| e.host.as_str());
        let time = rfc3339(t);
        match self.rng.below(7) {
            0 => String::new(),
            1 => "GET /healthz HTTP/1.1".to_string(),
            2 => json!({"time": "yesterday", "method": "GET", "url": format!("https://{host}/")})
                .to_string(),
            3 => json!({"method": "GET", "url": format!("https://{host}/")}).to_string(),
            4 => json!({"time": time, "method": "GET", "url": "/relative/path"}).to_string(),
            5 => json!({"time": time, "method": "GET", "url": format!("https://{host}/"), "ip": "999.1.2.3"})
                .to_string(),
            _ => {
                // cut off mid-write
                let full = json!({"time": time, "method": "GET", "url": format!("https://{host}/")})
                    .to_string();
                full.get(..full.len() / 2).unwrap_or("").to_string()
            }
        }
    }
}

fn rfc3339(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

/// A UUID-shaped `sub`, stable per identity.
fn uuid_of(h: u64) -> String {
    let mut r = Rng(h);
    let (a, b) = (r.next(), r.next());
    format!(
        "{:08x}-{:04x}-5{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

fn home_country(h: u64) -> &'static str {
    COUNTRIES
        .get((h >> 24) as usize % COUNTRIES.len())
        .copied()
        .unwrap_or("US")
}
