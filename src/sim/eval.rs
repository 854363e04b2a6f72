//! The request of `edgeward eval` (DESIGN §5): `{"method", "url", "claims", "time", "ip", "country"}`.

use serde_json::Value;

use crate::input::{ClaimDecl, Request};
use crate::jwt::{self, Reason};

/// Why an `eval` request was not decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalInputError {
    /// The request is not usable: what is wrong with it.
    Bad(String),
    /// The claims fail the schema (`invalid_token:claims_mismatch`).
    Token(Reason),
}

/// Builds the request `eval` decides; `now` is the time used when `time` is left out.
pub fn eval_request(v: &Value, schema: &[ClaimDecl], now: i64) -> Result<Request, EvalInputError> {
    let bad = |m: &str| EvalInputError::Bad(m.to_string());
    let obj = v
        .as_object()
        .ok_or_else(|| bad("the request is not a JSON object"))?;
    let method = obj
        .get("method")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("`method` (a string) is required"))?;
    let url = obj
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("`url` (a string) is required"))?;
    let parsed = super::traffic::parse_url(url)
        .map_err(|_| bad("`url` is not an absolute http or https URL"))?;
    let claims = obj
        .get("claims")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("`claims` (a decoded token payload, a JSON object) is required"))?;
    let time = match obj.get("time") {
        None | Some(Value::Null) => now,
        Some(Value::String(t)) => {
            crate::input::parse_rfc3339(t).ok_or_else(|| bad("`time` is not an RFC 3339 time"))?
        }
        Some(_) => return Err(bad("`time` is not an RFC 3339 string")),
    };
    let ip = match obj.get("ip") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            s.parse::<std::net::IpAddr>()
                .map_err(|_| bad("`ip` is not an IPv4 or IPv6 address"))?
                .to_canonical(),
        ),
        Some(_) => return Err(bad("`ip` is not a string")),
    };
    let country = match obj.get("country") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("`country` is not a string")),
    };
    let claims = jwt::type_claims(claims, schema).map_err(EvalInputError::Token)?;
    Ok(Request {
        method: crate::input::normalize_method(method).into_owned(),
        host: parsed.host.into_owned(),
        path: parsed.path.into_owned(),
        time,
        ip,
        country,
        claims: claims.into(),
    })
}
