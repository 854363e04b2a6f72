//! The JWKS: a standard `{"keys": [...]}` document or Cloudflare Access's `/cdn-cgi/access/certs` (DESIGN §4).

use std::collections::HashMap;

use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};

/// The signing keys a token's `kid` may name.
#[derive(Clone, Default)]
pub struct Jwks {
    keys: HashMap<String, Key>,
}

/// One key, and the algorithms it can verify.
#[derive(Clone)]
pub(super) enum Key {
    /// An RSA public key: fits RS256.
    Rsa(DecodingKey),
    /// An EC public key on P-256: fits ES256.
    EcP256(DecodingKey),
    /// A key of another type or curve: its `kid` is known, it fits no allowed `alg`.
    Other,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<_> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("Jwks").field("kids", &kids).finish()
    }
}

/// A JWKS document that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum JwksError {
    #[error("the JWKS is not JSON: {0}")]
    #[diagnostic(code(edgeward::bad_jwks))]
    NotJson(String),
    #[error("the JWKS is not a JSON object")]
    #[diagnostic(code(edgeward::bad_jwks))]
    NotObject,
    #[error("the JWKS has no `keys` array")]
    #[diagnostic(
        code(edgeward::bad_jwks),
        help(
            "a JWKS is `{{\"keys\": [...]}}`; Cloudflare Access serves one at `https://TEAM.cloudflareaccess.com/cdn-cgi/access/certs`"
        )
    )]
    NoKeys,
    #[error("key {index} of the JWKS is not usable: {why}")]
    #[diagnostic(code(edgeward::bad_jwks))]
    BadKey { index: usize, why: String },
}

impl Jwks {
    /// Parses a JWKS: `{"keys": [...]}`, Cloudflare's certs document accepted as
    /// is (its `public_cert` and `public_certs` repeat keys of `keys` as PEM
    /// certificates and are ignored, as the Worker ignores them).
    ///
    /// Keys without a `kid` can never be named and are left out; the first key
    /// of a `kid` wins. RSA keys and EC P-256 keys are usable; keys of other
    /// types or curves, and keys whose `alg` names another algorithm than the
    /// one their type fits, are kept (their `kid` is known, so a token naming
    /// one is `bad_signature`, not `unknown_kid`).
    pub fn parse(text: &str) -> Result<Jwks, JwksError> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| JwksError::NotJson(e.to_string()))?;
        let doc = doc.as_object().ok_or(JwksError::NotObject)?;
        let list = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwksError::NoKeys)?;
        let mut keys = HashMap::new();
        for (index, jwk) in list.iter().enumerate() {
            let bad = |why: &str| JwksError::BadKey {
                index,
                why: why.to_owned(),
            };
            let jwk = jwk.as_object().ok_or_else(|| bad("not a JSON object"))?;
            let kid = match jwk.get("kid") {
                None | Some(Value::Null) => continue,
                Some(Value::String(kid)) => kid.clone(),
                Some(_) => return Err(bad("`kid` is not a string")),
            };
            let key = key_of(jwk).map_err(|why| bad(&why))?;
            keys.entry(kid).or_insert(key);
        }
        Ok(Jwks { keys })
    }

    /// The number of keys that a `kid` can name.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key can be named.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key has this `kid`.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub(super) fn get(&self, kid: &str) -> Option<&Key> {
        self.keys.get(kid)
    }
}

/// The key a JWK describes.
fn key_of(jwk: &Map<String, Value>) -> Result<Key, String> {
    let text = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("`{name}` is missing or not a string"))
    };
    // A key that declares an algorithm (`alg`, even `null`) fits that one only.
    let declares = |alg: &str| jwk.get("alg").is_none_or(|a| a.as_str() == Some(alg));
    match text("kty")? {
        "RSA" if !declares("RS256") => Ok(Key::Other),
        "EC" if !declares("ES256") => Ok(Key::Other),
        "RSA" => {
            let key = DecodingKey::from_rsa_components(text("n")?, text("e")?)
                .map_err(|e| format!("bad RSA key: {e}"))?;
            Ok(Key::Rsa(key))
        }
        "EC" if text("crv")? == "P-256" => {
            let (x, y) = (text("x")?, text("y")?);
            // P-256 coordinates are 32 bytes each (43 base64url characters).
            if x.len() != 43 || y.len() != 43 {
                return Err("bad EC P-256 key: `x` and `y` must be 32 bytes".to_owned());
            }
            let key =
                DecodingKey::from_ec_components(x, y).map_err(|e| format!("bad EC key: {e}"))?;
            Ok(Key::EcP256(key))
        }
        _ => Ok(Key::Other),
    }
}
