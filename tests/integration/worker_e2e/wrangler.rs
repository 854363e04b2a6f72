//! The generated `wrangler.toml` read as Wrangler would: exactly the files it names, loaded in workerd, its vars applied.

use std::path::Path;

use serde_json::{Value, json};

use super::{AUD, ISS, build, harness, latency_summary, spec};

/// A Wrangler module-rule glob: `**/` any directories (none included), `*` any run within a name, `?` one character.
fn glob(pattern: &str, path: &str) -> bool {
    if let Some(rest) = pattern.strip_prefix("**/") {
        return glob(rest, path)
            || path
                .match_indices('/')
                .any(|(i, _)| glob(rest, &path[i + 1..]));
    }
    let (mut p, mut s) = (pattern.chars(), path.chars());
    match (p.next(), s.clone().next()) {
        (None, None) => true,
        (Some('*'), _) => {
            let rest = p.as_str();
            glob(rest, path) || (s.next().is_some_and(|c| c != '/') && glob(pattern, s.as_str()))
        }
        (Some('?'), Some(c)) if c != '/' => glob(p.as_str(), &path[c.len_utf8()..]),
        (Some(a), Some(b)) if a == b => glob(p.as_str(), &path[b.len_utf8()..]),
        _ => false,
    }
}

/// Every file under `dir`, as paths relative to it with `/` separators.
fn files(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let name = format!("{prefix}{}", entry.file_name().to_str().unwrap());
        if entry.file_type().unwrap().is_dir() {
            files(&entry.path(), &format!("{name}/"), out);
        } else {
            out.push(name);
        }
    }
}

#[test]
fn wrangler_glob_matches_as_wrangler_does() {
    assert!(glob("**/*.wasm", "policy.wasm"));
    assert!(glob("**/*.wasm", "a/b/policy.wasm"));
    assert!(!glob("**/*.wasm", "policy.wasm.map"));
    assert!(!glob("*.wasm", "a/policy.wasm"));
    assert!(glob("p?licy.wasm", "policy.wasm"));
}

#[test]
fn generated_wrangler_toml_loads_exactly_its_files_in_workerd() {
    let built = build("policy-v2.ward");
    let text = std::fs::read_to_string(built.path("wrangler.toml")).unwrap();
    let toml: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("wrangler.toml does not parse: {e}\n{text}"));

    // What the file says.
    let main = toml["main"].as_str().expect("main");
    assert_eq!(
        toml["compatibility_date"].as_str(),
        Some(edgeward::worker::COMPATIBILITY_DATE)
    );
    let rules = toml["rules"].as_array().expect("[[rules]]");
    let wasm_rules: Vec<&toml::Table> = rules
        .iter()
        .map(|r| r.as_table().unwrap())
        .filter(|r| r["type"].as_str() == Some("CompiledWasm"))
        .collect();
    assert_eq!(wasm_rules.len(), 1, "one CompiledWasm rule: {rules:?}");
    let globs: Vec<&str> = wasm_rules[0]["globs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert!(!globs.is_empty());
    assert_eq!(toml["observability"]["enabled"].as_bool(), Some(true));
    let vars = toml["vars"].as_table().expect("[vars]");
    let mut names: Vec<&str> = vars.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["JWKS_URL", "ORIGIN", "POLICY_AUD", "TEAM_DOMAIN"]);

    // Exactly those files: `main` as the ES module, every file the CompiledWasm globs match as a wasm module.
    let mut all = Vec::new();
    files(built.dir.path(), "", &mut all);
    all.sort();
    let wasm: Vec<&String> = all
        .iter()
        .filter(|f| globs.iter().any(|g| glob(g, f)))
        .collect();
    assert_eq!(
        wasm,
        ["policy.wasm"],
        "the CompiledWasm rule picks {wasm:?} from {all:?}"
    );
    let worker = std::fs::read_to_string(built.path(main)).unwrap();
    for import in worker.lines().filter(|l| l.starts_with("import ")) {
        let from = import
            .rsplit_once("from \"./")
            .unwrap()
            .1
            .trim_end_matches("\";");
        assert!(
            wasm.iter().any(|w| *w == from),
            "{main} imports {from}, which the rules do not provide"
        );
    }
    let mut modules = vec![json!({"name": main, "path": built.path(main), "type": "esModule"})];
    modules.extend(
        wasm.iter()
            .map(|w| json!({"name": w, "path": built.path(w), "type": "wasm"})),
    );

    let jane = json!({"key": "rsa", "claims": {
        "aud": [AUD], "email": "jane@acme.dev", "exp": "$now+600", "iat": "$now", "iss": ISS, "sub": "s", "type": "app"}});
    let get = |name: &str, path: &str, token: Option<&Value>, expect: Value| {
        let mut r = json!({"name": name, "method": "GET", "url": format!("https://payments.acme.dev{path}"), "expect": expect});
        if let Some(t) = token {
            r["token"] = t.clone();
        }
        r
    };
    let deny = |status: u16, outcome: &str, rule: Value| {
        json!({"status": status, "forwarded": false,
               "body": {"decision": "deny", "outcome": outcome, "rule": rule}, "log": {"policy": built.source_hash()}})
    };
    let with_vars = |vars: Value, requests: Vec<Value>| {
        let mut s = spec(&built, requests);
        s["modules"] = json!(modules);
        s["compatibility_date"] = json!(toml["compatibility_date"].as_str().unwrap());
        s["vars"] = vars;
        s
    };

    // As generated, the vars are empty: the Worker fails closed, token or not.
    let as_is: serde_json::Map<String, Value> = vars
        .iter()
        .map(|(k, v)| (k.clone(), json!(v.as_str().unwrap())))
        .collect();
    let report = harness(&with_vars(
        Value::Object(as_is.clone()),
        vec![
            get(
                "unconfigured, valid token",
                "/api/v1/payments/42",
                Some(&jane),
                deny(503, "error", Value::Null),
            ),
            get(
                "unconfigured, no token",
                "/healthz",
                None,
                deny(503, "error", Value::Null),
            ),
        ],
    ));
    eprintln!("wrangler.toml as generated: {}", latency_summary(&report));

    // The same files with the vars filled in, as a deployment sets them.
    let mut set = as_is;
    for (k, v) in [
        ("TEAM_DOMAIN", ISS),
        ("POLICY_AUD", AUD),
        ("ORIGIN", "$ORIGIN"),
        ("JWKS_URL", "$JWKS"),
    ] {
        assert_eq!(set[k], json!(""), "{k} is generated empty");
        set.insert(k.into(), json!(v));
    }
    let report = harness(&with_vars(
        Value::Object(set),
        vec![
            get(
                "allowed",
                "/api/v1/payments/42",
                Some(&jane),
                json!({"status": 200, "forwarded": true, "origin_headers": {"x-edgeward-rule": "reader"},
                       "log": {"outcome": "allow", "rule": "reader", "route": 0, "policy": built.source_hash()}}),
            ),
            get(
                "denied",
                "/healthz",
                Some(&jane),
                deny(403, "default", Value::Null),
            ),
            get(
                "no token",
                "/api/v1/payments/42",
                None,
                deny(401, "invalid_token:missing_token", Value::Null),
            ),
        ],
    ));
    eprintln!("wrangler.toml configured: {}", latency_summary(&report));
}
