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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Uppercase method, as sent.
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

/// Parses an RFC 3339 time to Unix seconds, fractional seconds rounded down.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    let t = time::OffsetDateTime::parse(s, &Rfc3339).ok()?;
    Some(t.unix_timestamp())
}

/// Formats Unix seconds as RFC 3339 UTC to the second (`2026-11-28T10:00:00Z`).
pub fn format_rfc3339(secs: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}
