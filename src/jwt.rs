//! JWT verification under the edgeward profile (DESIGN §4), JWKS parsing and claims typing.
//!
//! The profile, in the order its checks run (the first failing check is the
//! reason): `malformed`, `alg_not_allowed` (RS256 and ES256 only),
//! `unknown_kid`, `bad_signature`, `expired` / `not_yet_valid` (against the
//! request's recorded time, 60 s leeway), `bad_audience` / `bad_issuer` (when
//! configured), `claims_mismatch` (against the policy's claims schema);
//! `missing_token` when there is no token at all.

mod claims;
mod jwks;
mod verify;

pub use claims::{principal_of, type_claims};
pub use jwks::{Jwks, JwksError};
pub use verify::{TokenCache, TokenHint, Verifier};

use crate::input::Claims;

/// The longest token accepted, in bytes; a longer one is `malformed`.
pub const MAX_TOKEN_BYTES: usize = 16_384;

/// Leeway, in seconds, for `exp` and `nbf`.
pub const LEEWAY_SECONDS: i64 = 60;

/// What `aud` and `iss` must be, when configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// The token's `aud` (a string or an array of strings) must contain this.
    pub aud: Option<String>,
    /// The token's `iss` must equal this exactly.
    pub iss: Option<String>,
}

/// Why a token was refused, in the order the checks run (DESIGN §4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Reason {
    Malformed,
    AlgNotAllowed,
    UnknownKid,
    BadSignature,
    Expired,
    NotYetValid,
    BadAudience,
    BadIssuer,
    ClaimsMismatch,
    MissingToken,
}

impl Reason {
    /// Every reason, in check order (`missing_token` last).
    pub const ALL: [Reason; 10] = [
        Reason::Malformed,
        Reason::AlgNotAllowed,
        Reason::UnknownKid,
        Reason::BadSignature,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::BadAudience,
        Reason::BadIssuer,
        Reason::ClaimsMismatch,
        Reason::MissingToken,
    ];

    /// The reason's name as reports spell it: `malformed`, `bad_signature`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::AlgNotAllowed => "alg_not_allowed",
            Reason::UnknownKid => "unknown_kid",
            Reason::BadSignature => "bad_signature",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::BadAudience => "bad_audience",
            Reason::BadIssuer => "bad_issuer",
            Reason::ClaimsMismatch => "claims_mismatch",
            Reason::MissingToken => "missing_token",
        }
    }

    /// The outcome name of DESIGN §3: `invalid_token:REASON`.
    pub fn outcome(self) -> String {
        format!("invalid_token:{}", self.as_str())
    }

    /// The reason named `name` (`as_str`'s inverse).
    pub fn from_name(name: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The claims the schema declares, typed; absent optional claims are absent.
    pub claims: std::sync::Arc<Claims>,
    /// The token's `email`, else `common_name`, else `sub`, as written (DESIGN §6).
    pub principal: Option<std::sync::Arc<str>>,
}
