//! `simulate` and `whatif`: line accounting, what-if flips and `--fail-on`, `git:` bases, the conformance kit.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod accounting;
mod conformance;
mod whatif;

use std::path::Path;
use std::process::Command;

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use super::jwt::{AUD, ISS, NOW, RSA_KID, key, read, sign};

/// What a command did.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// Runs `edgeward ARGS` in `cwd`.
pub fn edgeward(cwd: &Path, args: &[&str]) -> Ran {
    let out = Command::new(env!("CARGO_BIN_EXE_edgeward"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A token for `email` (none when `None`), valid at [`NOW`], signed with the kit's RSA key.
pub fn token(email: Option<&str>) -> String {
    let mut claims = json!({"aud": [AUD], "exp": NOW + 3600, "iat": NOW - 60, "iss": ISS,
                            "sub": "s-1", "type": "app"});
    if let Some(e) = email {
        claims["email"] = json!(e);
    }
    let header = json!({"alg": "RS256", "kid": RSA_KID, "typ": "JWT"});
    sign(
        &header,
        &claims,
        &key("rsa-2048.pem", Algorithm::RS256),
        Algorithm::RS256,
    )
}

/// A token that expired long before [`NOW`].
pub fn expired_token() -> String {
    let claims = json!({"aud": [AUD], "email": "jane@acme.dev", "exp": NOW - 3600, "iat": NOW - 7200,
                        "iss": ISS, "sub": "s-1", "type": "app"});
    let header = json!({"alg": "RS256", "kid": RSA_KID});
    sign(
        &header,
        &claims,
        &key("rsa-2048.pem", Algorithm::RS256),
        Algorithm::RS256,
    )
}

/// One recorded request line (no line ending); `token` `None` records no token at all.
pub fn line(method: &str, url: &str, token: Option<&str>) -> String {
    let mut l = json!({"time": edgeward::input::format_rfc3339(NOW), "method": method, "url": url});
    if let Some(t) = token {
        l["jwt"] = json!(t);
    }
    l.to_string()
}

/// A small policy keyed to no catalog entity.
pub const POLICY_V1: &str = r#"policy small version 1

use std::cloudflare_access

route GET "/docs/*" {
  allow staff when claims has email and claims.email ends_with "@acme.dev"
}

route POST "/deploy/{name}" {
  allow deployer when claims has email and claims.email == "jane@acme.dev"
}

route ANY "/healthz" {
  allow public
}
"#;

/// [`POLICY_V1`] changed: interns denied docs, no deploys to `prod`, a new public route.
pub const POLICY_V2: &str = r#"policy small version 2

use std::cloudflare_access

route GET "/docs/*" {
  deny interns when claims has email and claims.email starts_with "intern"
  allow staff when claims has email and claims.email ends_with "@acme.dev"
}

route POST "/deploy/{name}" {
  allow deployer when claims has email and claims.email == "jane@acme.dev" and params.name != "prod"
}

route ANY "/healthz" {
  allow public
}

route GET "/public/*" {
  allow anyone
}
"#;

/// A temporary folder with both policies and the kit's JWKS.
pub fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("v1.ward"), POLICY_V1).unwrap();
    std::fs::write(dir.path().join("v2.ward"), POLICY_V2).unwrap();
    std::fs::write(dir.path().join("jwks.json"), read("conformance/jwks.json")).unwrap();
    dir
}

/// `simulate POLICY --traffic traffic.jsonl --jwks jwks.json --aud AUD --iss ISS` plus `extra`.
pub fn simulate(dir: &Path, policy: &str, extra: &[&str]) -> Ran {
    let mut args = vec![
        "simulate",
        policy,
        "--traffic",
        "traffic.jsonl",
        "--jwks",
        "jwks.json",
        "--aud",
        AUD,
        "--iss",
        ISS,
    ];
    args.extend_from_slice(extra);
    edgeward(dir, &args)
}

/// `whatif --base BASE --head HEAD --traffic traffic.jsonl --jwks jwks.json --aud AUD --iss ISS` plus `extra`.
pub fn whatif(dir: &Path, base: &str, head: &str, extra: &[&str]) -> Ran {
    let mut args = vec![
        "whatif",
        "--base",
        base,
        "--head",
        head,
        "--traffic",
        "traffic.jsonl",
        "--jwks",
        "jwks.json",
        "--aud",
        AUD,
        "--iss",
        ISS,
    ];
    args.extend_from_slice(extra);
    edgeward(dir, &args)
}
