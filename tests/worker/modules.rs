//! Hand-assembled ABI v1 policy modules for the Worker end-to-end tests (until codegen lands).

use serde_json::{Value, json};
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, CustomSection, DataSection, EntityType, ExportKind,
    ExportSection, Function, FunctionSection, GlobalSection, GlobalType, ImportSection,
    InstructionSink, MemArg, MemorySection, MemoryType, Module, TypeSection, ValType,
};

/// Where the input buffer starts in every module here.
const INPUT_AT: u64 = 1024;
/// Where the expected encoding lives in the exact-input module.
const EXPECTED_AT: u64 = 16384;
pub const NO_RULE: u32 = 0xFFFF_FFFF;

/// What `edgeward_decide` does.
pub enum Decide {
    /// Answers by the method's first one or two letters; see [`method_table`].
    ByMethod,
    /// Allows (rule 0) when the input is `expected` followed by a `request.time` slot within
    /// `time ± 600` s; denies by rule 1 (`mismatch`) or rule 2 (`clock`) otherwise.
    Exact { expected: Vec<u8>, time: i64 },
    /// Traps.
    Trap,
    /// Answers this raw `(rule << 32) | outcome`.
    Raw(i64),
}

/// How a module is broken (or not).
#[derive(Default)]
pub struct Flaws {
    pub no_manifest: bool,
    pub abi_version: Option<i32>,
    pub with_import: bool,
    pub route_export: bool,
    /// `edgeward_input` refuses every length (answers 0), against §3.
    pub input_refused: bool,
}

/// `(method prefix, outcome, rule, route)` of [`Decide::ByMethod`]; anything else is `bad_input`.
pub fn method_table() -> Vec<(&'static [u8], u32, u32, i32)> {
    vec![
        (b"G", 1, 0, 0),         // GET: allow by `let_in` (route 0)
        (b"PR", 1, 0, 0),        // PROPFIND: allow by `let_in` (route 0), with a body
        (b"PO", 2, 1, 0),        // POST: deny by `block` (route 0)
        (b"PU", 3, 2, 1),        // PUT: deny by `require#1` (route 1)
        (b"D", 4, NO_RULE, 1),   // DELETE: default on route 1
        (b"PA", 5, NO_RULE, -1), // PATCH: no_route
        (b"O", 6, NO_RULE, 0),   // OPTIONS: unknown_target on route 0
        (b"H", 2, 3, 2),         // HEAD: deny by top-level `embargo` (route 2)
    ]
}

/// The manifest of the by-method module.
pub fn method_manifest(input_capacity: u32) -> Value {
    json!({
        "abi": 1,
        "policy": {"name": "by_method", "version": 1, "source_hash": "sha256:by-method"},
        "catalog_hash": "sha256:none",
        "input_capacity": input_capacity,
        "claims": base_claims(),
        "slots": [
            {"name": "request.method", "type": "string", "optional": false},
            {"name": "request.host", "type": "string", "optional": false},
            {"name": "request.path", "type": "string", "optional": false}
        ],
        "routes": [
            {"index": 0, "methods": "ANY", "host": null, "path": "/*", "target": null},
            {"index": 1, "methods": "PUT|DELETE", "host": null, "path": "/put/*", "target": null},
            {"index": 2, "methods": "HEAD", "host": null, "path": "/head", "target": null}
        ],
        "rules": [
            {"index": 0, "name": "let_in", "effect": "allow", "route": 0, "source": "t.ward:1:1"},
            {"index": 1, "name": "block", "effect": "deny", "route": 0, "source": "t.ward:2:1"},
            {"index": 2, "name": "require#1", "effect": "require", "route": 1, "source": "t.ward:3:1"},
            {"index": 3, "name": "embargo", "effect": "deny", "route": null, "source": "t.ward:4:1"}
        ]
    })
}

/// The claims schema of Cloudflare Access tokens, as the stdlib declares it.
pub fn base_claims() -> Value {
    json!([
        {"name": "aud", "type": "set", "optional": false},
        {"name": "email", "type": "string", "optional": true},
        {"name": "exp", "type": "time", "optional": false},
        {"name": "iat", "type": "time", "optional": false},
        {"name": "nbf", "type": "time", "optional": true},
        {"name": "iss", "type": "string", "optional": false},
        {"name": "sub", "type": "string", "optional": false},
        {"name": "common_name", "type": "string", "optional": true},
        {"name": "groups", "type": "set", "optional": true}
    ])
}

/// A module: `decide` plus `flaws`, its manifest section holding `manifest`.
pub fn module(decide: &Decide, manifest: &Value, capacity: u32, flaws: &Flaws) -> Vec<u8> {
    let mut m = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]); // 0: () -> i32
    types.ty().function([ValType::I32], [ValType::I32]); // 1: (i32) -> i32
    types.ty().function([ValType::I32], [ValType::I64]); // 2: (i32) -> i64
    m.section(&types);
    let imported = u32::from(flaws.with_import);
    if flaws.with_import {
        let mut imports = ImportSection::new();
        imports.import("env", "clock", EntityType::Function(0));
        m.section(&imports);
    }
    let mut funcs = FunctionSection::new();
    for ty in [0, 1, 2, 0] {
        funcs.function(ty);
    }
    m.section(&funcs);
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: 1,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });
    m.section(&memories);
    let mut globals = GlobalSection::new();
    let route = GlobalType {
        val_type: ValType::I32,
        mutable: true,
        shared: false,
    };
    globals.global(route, &ConstExpr::i32_const(-1));
    m.section(&globals);
    let mut exports = ExportSection::new();
    exports.export("memory", ExportKind::Memory, 0);
    exports.export("edgeward_abi_version", ExportKind::Func, imported);
    exports.export("edgeward_input", ExportKind::Func, imported + 1);
    exports.export("edgeward_decide", ExportKind::Func, imported + 2);
    if flaws.route_export {
        exports.export("edgeward_route", ExportKind::Func, imported + 3);
    }
    m.section(&exports);

    let mut code = CodeSection::new();
    let mut abi = Function::new([]);
    abi.instructions()
        .i32_const(flaws.abi_version.unwrap_or(1))
        .end();
    code.function(&abi);
    let mut input = Function::new([]);
    input
        .instructions()
        .local_get(0)
        .i32_const(0)
        .i32_lt_s()
        .local_get(0)
        .i32_const(i32::try_from(capacity).unwrap())
        .i32_gt_s()
        .i32_or()
        .i32_const(i32::from(flaws.input_refused))
        .i32_or()
        .if_(BlockType::Result(ValType::I32))
        .i32_const(0)
        .else_()
        .i32_const(i32::try_from(INPUT_AT).unwrap())
        .end()
        .end();
    code.function(&input);
    code.function(&decide_function(decide));
    let mut route_fn = Function::new([]);
    route_fn.instructions().global_get(0).end();
    code.function(&route_fn);
    m.section(&code);

    if let Decide::Exact { expected, .. } = decide {
        let mut data = DataSection::new();
        data.active(
            0,
            &ConstExpr::i32_const(i32::try_from(EXPECTED_AT).unwrap()),
            expected.iter().copied(),
        );
        m.section(&data);
    }
    if !flaws.no_manifest {
        let text = serde_json::to_vec(manifest).unwrap();
        m.section(&CustomSection {
            name: "edgeward.manifest".into(),
            data: text.into(),
        });
    }
    let bytes = m.finish();
    if !flaws.with_import {
        wasmparser::Validator::new().validate_all(&bytes).unwrap();
    }
    bytes
}

fn at(offset: u64) -> MemArg {
    MemArg {
        offset,
        align: 0,
        memory_index: 0,
    }
}

/// Sets the route global and returns `(rule << 32) | outcome`.
fn answer(s: &mut InstructionSink<'_>, outcome: u32, rule: u32, route: i32) {
    s.i32_const(route)
        .global_set(0)
        .i64_const(((i64::from(rule)) << 32) | i64::from(outcome))
        .return_();
}

fn decide_function(decide: &Decide) -> Function {
    let mut f = Function::new([(1, ValType::I32)]);
    let mut s = f.instructions();
    match decide {
        Decide::Trap => {
            s.unreachable();
        }
        Decide::Raw(answer) => {
            s.i64_const(*answer);
        }
        Decide::ByMethod => {
            // A string slot first: tag 1, u32 length, then the method's bytes.
            s.local_get(0).i32_const(7).i32_lt_s().if_(BlockType::Empty);
            answer(&mut s, 7, NO_RULE, -1);
            s.end();
            s.i32_const(0)
                .i32_load8_u(at(INPUT_AT))
                .i32_const(1)
                .i32_ne()
                .if_(BlockType::Empty);
            answer(&mut s, 7, NO_RULE, -1);
            s.end();
            for (prefix, outcome, rule, route) in method_table() {
                for (i, b) in prefix.iter().enumerate() {
                    s.i32_const(0)
                        .i32_load8_u(at(INPUT_AT + 5 + i as u64))
                        .i32_const(i32::from(*b))
                        .i32_eq();
                    if i > 0 {
                        s.i32_and();
                    }
                }
                s.if_(BlockType::Empty);
                answer(&mut s, outcome, rule, route);
                s.end();
            }
            answer(&mut s, 7, NO_RULE, -1);
        }
        Decide::Exact { expected, time } => {
            let n = i32::try_from(expected.len()).unwrap();
            let n64 = expected.len() as u64;
            s.local_get(0)
                .i32_const(n + 9)
                .i32_ne()
                .if_(BlockType::Empty);
            answer(&mut s, 2, 1, 0);
            s.end();
            s.block(BlockType::Empty).loop_(BlockType::Empty);
            s.local_get(1).i32_const(n).i32_ge_u().br_if(1);
            s.local_get(1)
                .i32_load8_u(at(INPUT_AT))
                .local_get(1)
                .i32_load8_u(at(EXPECTED_AT))
                .i32_ne();
            s.if_(BlockType::Empty);
            answer(&mut s, 2, 1, 0);
            s.end();
            s.local_get(1).i32_const(1).i32_add().local_set(1).br(0);
            s.end().end();
            s.i32_const(0)
                .i32_load8_u(at(INPUT_AT + n64))
                .i32_const(3)
                .i32_ne()
                .if_(BlockType::Empty);
            answer(&mut s, 2, 1, 0);
            s.end();
            s.i32_const(0)
                .i64_load(at(INPUT_AT + n64 + 1))
                .i64_const(time - 600)
                .i64_lt_s()
                .if_(BlockType::Empty);
            answer(&mut s, 2, 2, 0);
            s.end();
            s.i32_const(0)
                .i64_load(at(INPUT_AT + n64 + 1))
                .i64_const(time + 600)
                .i64_gt_s()
                .if_(BlockType::Empty);
            answer(&mut s, 2, 2, 0);
            s.end();
            answer(&mut s, 1, 0, 0);
        }
    }
    s.end();
    f
}

/// The manifest of the exact-input module: one slot of every kind, `request.time` last.
pub fn exact_manifest() -> Value {
    let mut claims = base_claims();
    if let Value::Array(list) = &mut claims {
        list.push(json!({"name": "amr", "type": "set", "optional": true}));
        list.push(json!({"name": "admin", "type": "bool", "optional": true}));
        list.push(json!({"name": "nick", "type": "string", "optional": true}));
        list.push(json!({"name": "count", "type": "int", "optional": true}));
    }
    json!({
        "abi": 1,
        "policy": {"name": "exact", "version": 1, "source_hash": "sha256:exact"},
        "catalog_hash": "sha256:none",
        "input_capacity": 4096,
        "claims": claims,
        "slots": [
            {"name": "request.method", "type": "string", "optional": false},
            {"name": "request.host", "type": "string", "optional": false},
            {"name": "request.path", "type": "string", "optional": false},
            {"name": "request.ip", "type": "ip", "optional": true},
            {"name": "request.country", "type": "string", "optional": true},
            {"name": "claims.email", "type": "string", "optional": true},
            {"name": "claims.groups", "type": "set", "optional": true},
            {"name": "claims.amr", "type": "set", "optional": true},
            {"name": "claims.iat", "type": "int", "optional": false},
            {"name": "claims.admin", "type": "bool", "optional": true},
            {"name": "claims.nick", "type": "string", "optional": true},
            {"name": "claims.count", "type": "int", "optional": true},
            {"name": "request.time", "type": "int", "optional": false}
        ],
        "routes": [{"index": 0, "methods": "ANY", "host": null, "path": "/*", "target": null}],
        "rules": [
            {"index": 0, "name": "exact", "effect": "allow", "route": 0, "source": "t.ward:1:1"},
            {"index": 1, "name": "mismatch", "effect": "deny", "route": 0, "source": "t.ward:2:1"},
            {"index": 2, "name": "clock", "effect": "deny", "route": 0, "source": "t.ward:3:1"}
        ]
    })
}

/// A slot value of the §3 input encoding.
pub enum Slot<'a> {
    Absent,
    Str(&'a str),
    Set(&'a [&'a str]),
    Int(i64),
    Bool(bool),
    Ip([u8; 16]),
}

/// Encodes slots per §3 (little-endian).
pub fn encode(slots: &[Slot<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let str_ = |out: &mut Vec<u8>, s: &str| {
        out.extend(u32::try_from(s.len()).unwrap().to_le_bytes());
        out.extend(s.as_bytes());
    };
    for slot in slots {
        match slot {
            Slot::Absent => out.push(0),
            Slot::Str(s) => {
                out.push(1);
                str_(&mut out, s);
            }
            Slot::Set(items) => {
                out.push(2);
                out.extend(u32::try_from(items.len()).unwrap().to_le_bytes());
                for s in *items {
                    str_(&mut out, s);
                }
            }
            Slot::Int(n) => {
                out.push(3);
                out.extend(n.to_le_bytes());
            }
            Slot::Bool(b) => out.extend([4, u8::from(*b)]),
            Slot::Ip(bytes) => {
                out.push(5);
                out.extend(bytes);
            }
        }
    }
    out
}
