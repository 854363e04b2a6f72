//! Code generation: lowers a checked [`Program`] to an import-free WebAssembly module (ABI v1).
//!
//! # Memory layout
//!
//! One linear memory, no allocator. Every address is a constant fixed at compile time and every
//! area is sized so that no address the code computes can fall outside memory:
//!
//! | area | size | holds |
//! |---|---|---|
//! | `0..16` | 16 | reserved (so that `0` is never a valid address) |
//! | slot table | 16 × slots | per slot: `i32 tag` (0 absent), `i32 ptr`, `i64` length, count, int or bool |
//! | params | 8 × max params | `(ptr, len)` of the matched route's percent-decoded params |
//! | segments | 8 × (max segments + 1) | `(ptr, len)` of the request path's first segments |
//! | input | 65,536 | the input buffer (`edgeward_input`) |
//! | param bytes | 65,536 when any route has params | decoded param values |
//! | template | largest templated name | the templated target name being looked up |
//! | data | the data segment | interned strings and tables, below |
//!
//! The data segment holds: one byte per input slot steering the decoder (the slot's tag, plus 0x80
//! when it may be absent); strings interned once as `u32 len` + bytes; string sets (list literals)
//! in the input encoding; CIDR networks as 16 bytes; and the catalog facts as sorted tables
//! searched by binary search — string fields as words `(entity << 32) | string address` per field,
//! `owner` and `system` as `(entity << 32) | related`, group membership (transitive and direct) and
//! `part_of` as `(entity << 32) | other`. Principal bindings and templated targets are hash
//! tables of `[key string address, entity]` slots (a power of two of them, at most two-thirds
//! full, linear probing; `layout::key_hash` is the hash the module computes on a probe), each
//! laid out once however many routes share it.
//!
//! # Code
//!
//! `edgeward_decide` decodes the input into the slot table in one loop over the slots (any
//! malformed input is `bad_input`), splits the path once, then tries the routes in
//! `Program::route_order` with inline checks (segment count, literal segments, methods, host);
//! the first match calls that route's function, which decodes the params something reads,
//! resolves the target and runs the top-level denies and its rules in order. The principal is
//! bound on its first read in a decision (a helper), so a request whose rules never read it
//! costs no lookup. An expression leaves its value on the stack or branches to its rule's error
//! label, which implements DESIGN §7.3 exactly. Helpers (string compare, glob, binary search, ...)
//! are emitted once, only when used.

mod asm;
mod decode;
mod expr;
mod layout;
mod routing;
mod runtime;

use std::collections::BTreeMap;
use std::fmt;

use wasm_encoder::{
    CodeSection, ConstExpr, CustomSection, DataSection, ExportKind, ExportSection, Function,
    FunctionSection, GlobalSection, GlobalType, MemorySection, MemoryType, Module, TypeSection,
    ValType,
};

use self::layout::{Layout, pair, relation_words};
use self::runtime::Helper;
use super::manifest::Manifest;
use crate::ir::{FieldIdx, Program, Rel};

pub use self::layout::INPUT_CAPACITY;
pub use crate::ir::optimise::route_order;

/// The custom section that carries the manifest JSON.
pub const MANIFEST_SECTION: &str = "edgeward.manifest";

/// Code generation failed. On a checked program this is always a bug in edgeward.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodegenError {
    #[error(
        "internal error: code generation failed on a checked program: {0} (this is a bug in edgeward)"
    )]
    Internal(String),
}

pub(crate) fn internal(msg: impl fmt::Display) -> CodegenError {
    CodegenError::Internal(msg.to_string())
}

/// A module could not be printed as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot print the module as text: {0}")]
pub struct WatError(pub String);

/// The global holding the matched route (-1 none).
pub(crate) const G_ROUTE: u32 = 0;
/// The global holding the target entity (-1 none).
pub(crate) const G_TARGET: u32 = 1;
/// The global holding the bound principal (-1 unbound).
pub(crate) const G_PRINCIPAL: u32 = 2;

const F_ABI: u32 = 0;
const F_INPUT: u32 = 1;
const F_DECIDE: u32 = 2;
const F_ROUTE: u32 = 3;

type Sig = (Vec<ValType>, Vec<ValType>);

/// Tables emitted on first use: `(address, count)`.
#[derive(Default)]
struct Tables {
    fields: BTreeMap<u32, (u32, u32)>,
    owner: Option<(u32, u32)>,
    system: Option<(u32, u32)>,
    groups: Option<(u32, u32)>,
    direct: Option<(u32, u32)>,
    part_of: Option<(u32, u32)>,
}

/// The module under construction.
pub(crate) struct Gen<'p> {
    pub p: &'p Program,
    pub lay: Layout,
    types: Vec<Sig>,
    funcs: Vec<Option<(u32, Function)>>,
    helpers: BTreeMap<Helper, u32>,
    tables: Tables,
}

impl<'p> Gen<'p> {
    fn new(p: &'p Program) -> Gen<'p> {
        Gen {
            p,
            lay: Layout::new(p),
            types: Vec::new(),
            funcs: Vec::new(),
            helpers: BTreeMap::new(),
            tables: Tables::default(),
        }
    }

    fn ty(&mut self, params: &[ValType], results: &[ValType]) -> u32 {
        let sig = (params.to_vec(), results.to_vec());
        match self.types.iter().position(|t| *t == sig) {
            Some(i) => i as u32,
            None => {
                self.types.push(sig);
                self.types.len() as u32 - 1
            }
        }
    }

    fn reserve(&mut self) -> u32 {
        self.funcs.push(None);
        self.funcs.len() as u32 - 1
    }

    fn define(&mut self, idx: u32, params: &[ValType], results: &[ValType], body: asm::Asm) {
        let t = self.ty(params, results);
        if let Some(slot) = self.funcs.get_mut(idx as usize) {
            *slot = Some((t, body.finish()));
        }
    }

    /// The function index of a helper, emitting it on first use.
    pub fn helper(&mut self, h: Helper) -> Result<u32, CodegenError> {
        if let Some(&f) = self.helpers.get(&h) {
            return Ok(f);
        }
        let f = self.reserve();
        self.helpers.insert(h, f);
        let body = runtime::body(self, h)?;
        let (params, results) = h.sig();
        self.define(f, params, results, body);
        Ok(f)
    }

    /// The sorted table of a string field: `(entity << 32) | string address`.
    pub fn field_table(&mut self, f: FieldIdx) -> Result<(u32, u32), CodegenError> {
        if let Some(&t) = self.tables.fields.get(&f.0) {
            return Ok(t);
        }
        let col = self
            .p
            .entities
            .values
            .get(f.0 as usize)
            .ok_or_else(|| internal(format!("field {} out of range", f.0)))?;
        let mut words = Vec::new();
        for (e, v) in col.iter().enumerate() {
            if let Some(s) = v {
                words.push(pair(e as u32, self.lay.string(s.as_bytes())));
            }
        }
        let t = self.lay.words(words);
        self.tables.fields.insert(f.0, t);
        Ok(t)
    }

    /// The `owner` or `system` table: `(entity << 32) | related`, resolved relations only.
    pub fn owner_table(&mut self, rel: Rel) -> (u32, u32) {
        let cached = match rel {
            Rel::Owner => self.tables.owner,
            Rel::System => self.tables.system,
        };
        if let Some(t) = cached {
            return t;
        }
        let list = &self.p.entities.list;
        let words = relation_words(list.iter().enumerate().map(|(i, e)| {
            (
                i as u32,
                match rel {
                    Rel::Owner => &e.owner,
                    Rel::System => &e.system,
                },
            )
        }));
        let t = self.lay.words(words);
        match rel {
            Rel::Owner => self.tables.owner = Some(t),
            Rel::System => self.tables.system = Some(t),
        }
        t
    }

    fn pairs(
        &mut self,
        f: impl Fn(&crate::ir::entities::EntityInfo) -> &[crate::ir::EntityIdx],
    ) -> (u32, u32) {
        let words: Vec<u64> = self
            .p
            .entities
            .list
            .iter()
            .enumerate()
            .flat_map(|(i, e)| f(e).iter().map(move |g| pair(i as u32, g.0)))
            .collect();
        self.lay.words(words)
    }

    pub fn groups_table(&mut self) -> (u32, u32) {
        if let Some(t) = self.tables.groups {
            return t;
        }
        let t = self.pairs(|e| &e.groups);
        self.tables.groups = Some(t);
        t
    }

    pub fn direct_groups_table(&mut self) -> (u32, u32) {
        if let Some(t) = self.tables.direct {
            return t;
        }
        let t = self.pairs(|e| &e.direct_groups);
        self.tables.direct = Some(t);
        t
    }

    pub fn part_of_table(&mut self) -> (u32, u32) {
        if let Some(t) = self.tables.part_of {
            return t;
        }
        let t = self.pairs(|e| &e.part_of);
        self.tables.part_of = Some(t);
        t
    }

    fn build(mut self, manifest: &[u8]) -> Result<Vec<u8>, CodegenError> {
        use ValType::{I32, I64};
        for _ in 0..4 {
            self.reserve();
        }
        // abi_version
        let mut a = asm::Asm::new(0);
        a.i32c(crate::wasm::abi::ABI_VERSION);
        self.define(F_ABI, &[], &[I32], a);
        // input(len): INPUT when 0 <= len <= capacity, else 0
        let mut a = asm::Asm::new(1);
        a.u32c(self.lay.input).i32c(0).get(0).u32c(INPUT_CAPACITY);
        a.op(wasm_encoder::Instruction::I32LeU)
            .op(wasm_encoder::Instruction::Select);
        self.define(F_INPUT, &[I32], &[I32], a);
        // route()
        let mut a = asm::Asm::new(0);
        a.op(wasm_encoder::Instruction::GlobalGet(G_ROUTE));
        self.define(F_ROUTE, &[], &[I32], a);

        let top = if self.p.top_denies.is_empty() {
            None
        } else {
            let f = self.reserve();
            let body = self.top_fn()?;
            self.define(f, &[], &[I64], body);
            Some(f)
        };
        let route_fns: Vec<u32> = (0..self.p.routes.len()).map(|_| self.reserve()).collect();
        for (k, &f) in route_fns.iter().enumerate() {
            let body = self.route_fn(k, top)?;
            self.define(f, &[], &[I64], body);
        }
        let decode = self.reserve();
        let body = self.decode_fn()?;
        self.define(decode, &[I32], &[I32], body);
        let body = self.decide_fn(decode, &route_fns)?;
        self.define(F_DECIDE, &[I32], &[I64], body);

        let mut types = TypeSection::new();
        for (p, r) in &self.types {
            types.ty().function(p.iter().copied(), r.iter().copied());
        }
        let mut funcs = FunctionSection::new();
        let mut code = CodeSection::new();
        for (i, f) in self.funcs.iter().enumerate() {
            let (t, body) = f
                .as_ref()
                .ok_or_else(|| internal(format!("function {i} was reserved but not defined")))?;
            funcs.function(*t);
            code.function(body);
        }
        let mut memories = MemorySection::new();
        memories.memory(MemoryType {
            minimum: self.lay.pages(),
            maximum: Some(self.lay.pages()),
            memory64: false,
            shared: false,
            page_size_log2: None,
        });
        let mut globals = GlobalSection::new();
        for _ in 0..3 {
            globals.global(
                GlobalType {
                    val_type: I32,
                    mutable: true,
                    shared: false,
                },
                &ConstExpr::i32_const(-1),
            );
        }
        let mut exports = ExportSection::new();
        exports.export("memory", ExportKind::Memory, 0);
        exports.export("edgeward_abi_version", ExportKind::Func, F_ABI);
        exports.export("edgeward_input", ExportKind::Func, F_INPUT);
        exports.export("edgeward_decide", ExportKind::Func, F_DECIDE);
        exports.export("edgeward_route", ExportKind::Func, F_ROUTE);
        let mut data = DataSection::new();
        if !self.lay.data_bytes().is_empty() {
            data.active(
                0,
                &ConstExpr::i32_const(self.lay.data as i32),
                self.lay.data_bytes().iter().copied(),
            );
        }
        let mut m = Module::new();
        m.section(&types)
            .section(&funcs)
            .section(&memories)
            .section(&globals)
            .section(&exports)
            .section(&code);
        if !data.is_empty() {
            m.section(&data);
        }
        m.section(&CustomSection {
            name: MANIFEST_SECTION.into(),
            data: manifest.into(),
        });
        Ok(m.finish())
    }
}

/// Compiles a checked program to module bytes (with the manifest as a custom section).
pub fn compile(program: &Program) -> Result<Vec<u8>, CodegenError> {
    let manifest = Manifest::from_program(program).to_json_compact();
    Gen::new(program).build(manifest.as_bytes())
}

/// The module's text form.
pub fn to_wat(bytes: &[u8]) -> Result<String, WatError> {
    wasmprinter::print_bytes(bytes).map_err(|e| WatError(e.to_string()))
}
