//! One semantics: the interpreter (the oracle) and the compiled module under wasmtime decide alike.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;

use edgeward::catalog::Catalog;
use edgeward::sim::eval::eval_request;
use edgeward::wasm::{Compiled, compile};

use super::wasm::generate;

/// The shared folder beside the repository (its conformance kit).
fn conformance() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let kit = dir.join("shared/conformance");
        if kit.is_dir() {
            return kit;
        }
        assert!(dir.pop(), "no shared/conformance above the repository");
    }
}

#[test]
fn generated_programs_decide_alike_on_the_interpreter_and_the_module() {
    let (programs, requests) = (200u64, 200u64);
    let mut decided = 0;
    for seed in 0..programs {
        let p = generate::program(seed);
        let bytes = compile(&p).unwrap();
        let compiled = Compiled::from_bytes(&bytes).unwrap();
        let mut decider = compiled.decider().unwrap();
        for r in 0..requests {
            let req = generate::request(&p, seed * 1000 + r);
            // The host's direct encoder writes exactly what the slot values encode to.
            let (mut direct, mut via_values) = (Vec::new(), Vec::new());
            edgeward::wasm::abi::encode_request(&p.slots, &req, &mut direct);
            edgeward::wasm::abi::encode(
                &edgeward::wasm::abi::slot_values(&p.slots, &req),
                &mut via_values,
            );
            assert_eq!(direct, via_values, "program {seed}, request {r}");
            let oracle = edgeward::interp::decide(&p, &req);
            let module = decider.decide(&req).unwrap();
            assert_eq!(oracle, module, "program {seed}, request {r}: {req:?}");
            decided += 1;
        }
    }
    assert_eq!(decided, programs * requests);
}

#[test]
fn every_conformance_eval_case_decides_alike_on_the_interpreter_and_the_module() {
    let kit = conformance();
    let catalog = Catalog::load(&kit.join("catalog")).unwrap().catalog;
    let cases: Vec<serde_json::Value> = std::fs::read_to_string(kit.join("eval-cases.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(cases.len(), 131);
    for (file, version) in [("policy.ward", "v1"), ("policy-v2.ward", "v2")] {
        let source = std::fs::read_to_string(kit.join(file)).unwrap();
        let program = edgeward::compile(file, &source, Some(&catalog))
            .unwrap()
            .program;
        let compiled = Compiled::from_bytes(&compile(&program).unwrap()).unwrap();
        let mut decider = compiled.decider().unwrap();
        let names: Vec<String> = program.rules.iter().map(|r| r.name.clone()).collect();
        for case in &cases {
            let expect = &case["expect"][version];
            let got = match eval_request(&case["request"], &program.claims, 0) {
                Ok(req) => {
                    let oracle = edgeward::interp::decide(&program, &req);
                    let module = decider.decide(&req).unwrap();
                    assert_eq!(oracle, module, "{} under {file}", case["id"]);
                    edgeward::sim::Verdict::of(oracle, &names)
                }
                Err(edgeward::sim::eval::EvalInputError::Token(reason)) => {
                    edgeward::sim::Verdict::invalid_token(reason)
                }
                Err(e) => panic!("{}: {e:?}", case["id"]),
            };
            let got = serde_json::to_value(&got).unwrap();
            assert_eq!(&got, expect, "{} under {file}", case["id"]);
        }
    }
}

#[test]
fn the_direct_encoder_converts_claims_as_the_reference_does() {
    use edgeward::input::{ClaimValue, Request};
    use edgeward::ir::{Slot, SlotSource, SlotType};
    use edgeward::wasm::abi::{encode, encode_request, slot_values};
    let slot = |name: &str, ty| Slot {
        name: format!("claims.{name}"),
        source: SlotSource::Claim(name.into()),
        ty,
        optional: true,
    };
    let slots = vec![
        slot("groups", SlotType::Set),
        slot("one", SlotType::Set),
        slot("email", SlotType::String),
        slot("wrong", SlotType::String),
        slot("exp", SlotType::Int),
        slot("admin", SlotType::Bool),
        slot("absent", SlotType::Int),
        Slot {
            name: "request.ip".into(),
            source: SlotSource::Ip,
            ty: SlotType::Ip,
            optional: true,
        },
        Slot {
            name: "request.time".into(),
            source: SlotSource::Time,
            ty: SlotType::Int,
            optional: false,
        },
    ];
    let claims = [
        ("groups", ClaimValue::Set(vec!["a".into(), "bé".into()])),
        ("one", ClaimValue::String("solo".into())),
        ("email", ClaimValue::String("jane@acme.dev".into())),
        ("wrong", ClaimValue::Int(3)),
        ("exp", ClaimValue::Time(1_800_000_000)),
        ("admin", ClaimValue::Bool(true)),
    ];
    for ip in [
        None,
        Some("10.1.2.3"),
        Some("::ffff:10.1.2.3"),
        Some("2001:db8::1"),
    ] {
        let req = Request {
            method: "GET".into(),
            host: "h".into(),
            path: "/".into(),
            time: -5,
            ip: ip.map(|i| i.parse().unwrap()),
            country: None,
            claims: claims
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<edgeward::input::Claims>()
                .into(),
        };
        let (mut direct, mut reference) = (Vec::new(), Vec::new());
        encode_request(&slots, &req, &mut direct);
        encode(&slot_values(&slots, &req), &mut reference);
        assert_eq!(direct, reference, "ip {ip:?}");
    }
}

/// A policy whose one route matches `pattern` against a `{param}`, compiled for both engines.
fn glob_policy(pattern: &str) -> (edgeward::ir::Program, Compiled) {
    let source = format!(
        "policy g version 1\n\nroute GET \"/g/{{x}}\" {{\n  allow m when params.x matches \"{pattern}\"\n}}\n"
    );
    let program = edgeward::compile("g.ward", &source, Some(&no_catalog()))
        .unwrap()
        .program;
    let compiled = Compiled::from_bytes(&compile(&program).unwrap()).unwrap();
    (program, compiled)
}

/// A catalog of no entities.
fn no_catalog() -> Catalog {
    Catalog::from_yaml_str("none", "").unwrap().catalog
}

/// A GET request for `path` on any host.
fn get(path: String) -> edgeward::input::Request {
    edgeward::input::Request {
        method: "GET".into(),
        host: "h.dev".into(),
        path,
        ..Default::default()
    }
}

/// `matches` on a `{param}` whose percent-decoded bytes are not UTF-8: `?` and `*` step over a byte
/// and the continuation bytes after it in both engines (they stepped apart on `%E9`, `%C3`, `%80`).
#[test]
fn globs_on_bytes_that_are_not_utf8_match_alike() {
    let alphabet: [u8; 10] = [b'a', b'b', 0x80, 0xBF, 0xC3, 0xA9, 0xE9, 0xE0, 0xF0, 0xFF];
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut decided = 0;
    for pattern in [
        "?", "??", "???", "a?c", "*a", "a*", "*", "?*?", "*?a", "*b*", "a?*b",
    ] {
        let (program, compiled) = glob_policy(pattern);
        let mut decider = compiled.decider().unwrap();
        for _ in 0..400 {
            let len = 1 + next(5);
            let bytes: Vec<u8> = (0..len).map(|_| alphabet[next(alphabet.len())]).collect();
            let encoded: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
            let req = get(format!("/g/{encoded}"));
            let oracle = edgeward::interp::decide(&program, &req);
            assert_eq!(
                oracle,
                decider.decide(&req).unwrap(),
                "{pattern} on {bytes:02x?}"
            );
            decided += 1;
        }
    }
    assert_eq!(decided, 11 * 400);
    // On UTF-8 text a `?` is one character, however many bytes.
    let (program, _) = glob_policy("a?c");
    for (path, allowed) in [
        ("/g/a%C3%A9c", true),
        ("/g/a%E9c", true),
        ("/g/a%C3c", true),
        ("/g/a%80%80c", true),
        ("/g/a%80b%80c", false),
        ("/g/ac", false),
    ] {
        let d = edgeward::interp::decide(&program, &get(path.into()));
        assert_eq!(
            d.outcome == edgeward::wasm::abi::Outcome::Allow,
            allowed,
            "{path}"
        );
    }
}

/// §3: a request whose encoding does not fit the module's input is `bad_input` in both engines,
/// and one that just fits is decided.
#[test]
fn a_request_too_large_for_the_input_is_bad_input_in_both_engines() {
    let source = "policy big version 1\n\nroute GET \"/a/*\" {\n  allow star\n}\n";
    let program = edgeward::compile("big.ward", source, Some(&no_catalog()))
        .unwrap()
        .program;
    let compiled = Compiled::from_bytes(&compile(&program).unwrap()).unwrap();
    let mut decider = compiled.decider().unwrap();
    let capacity = edgeward::wasm::INPUT_CAPACITY as usize;
    let fixed = edgeward::wasm::abi::encoded_len(&program.slots, &get("/a/".into()));
    for extra in [0, 1] {
        let path = format!("/a/{}", "x".repeat(capacity - fixed + extra));
        let req = get(path);
        assert_eq!(
            edgeward::wasm::abi::encoded_len(&program.slots, &req),
            capacity + extra
        );
        let oracle = edgeward::interp::decide(&program, &req);
        assert_eq!(oracle, decider.decide(&req).unwrap(), "capacity + {extra}");
        let expected = if extra == 0 {
            edgeward::wasm::abi::Outcome::Allow
        } else {
            edgeward::wasm::abi::Outcome::BadInput
        };
        assert_eq!(oracle.outcome, expected, "capacity + {extra}");
    }
}
