//! Typing a token payload against the claims schema (`claims_mismatch`, DESIGN §4) and the principal name.

use serde_json::{Map, Value};

use super::Reason;
use crate::input::{ClaimDecl, ClaimType, ClaimValue, Claims};

/// Types `payload` by `schema`: the claims the schema declares, converted.
///
/// `claims_mismatch` when a declared claim is missing although required or has
/// another type, when `exp` is missing or not a number (it is required whatever
/// the schema says), or when `nbf` is present but not a number. A `null` claim
/// counts as absent; undeclared claims are ignored; a string where the schema
/// declares a set is a one-element set; a fractional NumericDate is rounded
/// down (one outside the `i64` range is a mismatch). An `int` claim is a JSON
/// number holding a whole number a double holds exactly (`5`, `5.0`, `-0`; at
/// most 2^53 - 1 either way). Numbers are read as doubles throughout, as the
/// Worker's JavaScript reads them.
pub fn type_claims(payload: &Map<String, Value>, schema: &[ClaimDecl]) -> Result<Claims, Reason> {
    match present(payload, "exp") {
        Some(v) if v.is_number() => {}
        _ => return Err(Reason::ClaimsMismatch),
    }
    if present(payload, "nbf").is_some_and(|v| !v.is_number()) {
        return Err(Reason::ClaimsMismatch);
    }
    let mut claims = Claims::new();
    for decl in schema {
        match present(payload, &decl.name) {
            None if decl.optional => {}
            None => return Err(Reason::ClaimsMismatch),
            Some(value) => {
                let typed = convert(value, decl.ty).ok_or(Reason::ClaimsMismatch)?;
                claims.insert(decl.name.clone(), typed);
            }
        }
    }
    Ok(claims)
}

/// The principal's name: the token's `email`, else `common_name`, else `sub`,
/// as written in the token: the first `email` or `common_name` that is a
/// non-empty string, else `sub` when it is a string.
pub fn principal_of(payload: &Map<String, Value>) -> Option<String> {
    ["email", "common_name"]
        .into_iter()
        .find_map(|name| {
            payload
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .or_else(|| payload.get("sub").and_then(Value::as_str))
        .map(str::to_owned)
}

/// The claim `name`, unless it is missing or `null`.
fn present<'a>(payload: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    payload.get(name).filter(|v| !v.is_null())
}

/// `value` as a `ty`, or `None` when it has another type.
fn convert(value: &Value, ty: ClaimType) -> Option<ClaimValue> {
    match ty {
        ClaimType::String => value.as_str().map(|s| ClaimValue::String(s.to_owned())),
        ClaimType::Int => safe_integer(value).map(ClaimValue::Int),
        ClaimType::Bool => value.as_bool().map(ClaimValue::Bool),
        ClaimType::Time => numeric_date(value).map(ClaimValue::Time),
        ClaimType::Set => match value {
            Value::String(s) => Some(ClaimValue::Set(vec![s.clone()])),
            Value::Array(items) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(ClaimValue::Set),
            _ => None,
        },
    }
}

/// The largest integer a double holds together with all smaller ones: 2^53 - 1.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A JSON number holding a whole number within ±(2^53 - 1), read as a double.
fn safe_integer(value: &Value) -> Option<i64> {
    let f = value.as_f64()?;
    #[allow(clippy::cast_possible_truncation)]
    (f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER).then_some(f as i64)
}

/// A JSON number as a NumericDate in whole seconds, rounded down; `None` when
/// it is not a number or does not fit an `i64`. The number is read as a double
/// (an integer beyond 2^53 is rounded first), as the Worker reads it.
pub(super) fn numeric_date(value: &Value) -> Option<i64> {
    let f = value.as_f64()?.floor();
    // i64::MIN is exactly representable; i64::MAX rounds up to 2^63, which is out of range.
    const LOW: f64 = i64::MIN as f64;
    const HIGH: f64 = 9_223_372_036_854_775_808.0;
    if (LOW..HIGH).contains(&f) {
        #[allow(clippy::cast_possible_truncation)]
        Some(f as i64)
    } else {
        None
    }
}
