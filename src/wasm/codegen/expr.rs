//! Expressions and rules: each expression leaves its value on the stack or branches to the rule's
//! error label, which gives DESIGN §7.3's error propagation and short-circuiting for free.

use wasm_encoder::{BlockType, Instruction as I, ValType};

use super::asm::Asm;
use super::runtime::Helper;
use super::{CodegenError, G_PRINCIPAL, G_TARGET, Gen, internal};
use crate::ir::{Expr, ExprId, RuleIdx, SlotType};
use crate::syntax::ast::Effect;
use crate::wasm::abi::Outcome;

/// How a value sits on the wasm stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VTy {
    /// i32 0/1
    Bool,
    /// i64
    Int,
    /// (ptr, len)
    Str,
    /// (ptr, count) in the input encoding
    Set,
    /// ptr to 16 bytes
    Ip,
    /// (ptr to 16 bytes, prefix)
    Cidr,
    /// i32 entity index
    Entity,
}

/// Where errors go.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    /// The level of the block an error branches to.
    pub err: u32,
    /// The target global is known to hold an entity.
    pub has_target: bool,
    /// Slots known present here (bit k: slot k), from a `has` guard earlier in the conjunction.
    pub present: u128,
}

fn bit(k: u32) -> u128 {
    1u128.checked_shl(k).unwrap_or(0)
}

/// Levels of the blocks a route function's rules branch to with their rule index, per outcome.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Exits {
    allow: Option<u32>,
    deny: Option<u32>,
    require: Option<u32>,
}

impl Exits {
    pub fn set(&mut self, o: Outcome, level: u32) {
        match o {
            Outcome::Allow => self.allow = Some(level),
            Outcome::Deny => self.deny = Some(level),
            Outcome::Require => self.require = Some(level),
            _ => {}
        }
    }

    fn get(&self, o: Outcome) -> Option<u32> {
        match o {
            Outcome::Allow => self.allow,
            Outcome::Deny => self.deny,
            Outcome::Require => self.require,
            _ => None,
        }
    }
}

/// Decides with `o` by rule `idx`: through the shared exit when there is one.
fn decide(a: &mut Asm, exits: &Exits, o: Outcome, idx: u32) {
    match exits.get(o) {
        Some(level) => {
            a.u32c(idx).br_to(level);
        }
        None => {
            a.i64c(word(o, Some(idx))).ret();
        }
    }
}

/// The decision word of an outcome and rule.
pub(crate) fn word(o: Outcome, rule: Option<u32>) -> i64 {
    crate::wasm::abi::Decision { outcome: o, rule }.to_word()
}

impl Gen<'_> {
    fn node(&self, id: ExprId) -> Result<&Expr, CodegenError> {
        self.p
            .expr(id)
            .ok_or_else(|| internal(format!("expression {} out of range", id.0)))
    }

    /// The type of an expression's value.
    pub fn vty(&self, id: ExprId) -> Result<VTy, CodegenError> {
        Ok(match self.node(id)? {
            Expr::Bool(_)
            | Expr::Has(_)
            | Expr::Eq(..)
            | Expr::Ne(..)
            | Expr::Lt(..)
            | Expr::Le(..)
            | Expr::Gt(..)
            | Expr::Ge(..)
            | Expr::SetHas { .. }
            | Expr::StrContains { .. }
            | Expr::StartsWith(..)
            | Expr::EndsWith(..)
            | Expr::Matches(..)
            | Expr::IpIn(..)
            | Expr::InGroup { .. }
            | Expr::Owns { .. }
            | Expr::PartOf { .. }
            | Expr::And(..)
            | Expr::Or(..)
            | Expr::Not(_) => VTy::Bool,
            Expr::Int(_) | Expr::Add(..) | Expr::Sub(..) => VTy::Int,
            Expr::Str(_) | Expr::Param(_) | Expr::Field(..) => VTy::Str,
            Expr::StrList(_) => VTy::Set,
            Expr::Cidr(..) => VTy::Cidr,
            Expr::Target | Expr::Principal | Expr::Entity(_) | Expr::Related(..) => VTy::Entity,
            Expr::Slot(k) => {
                let slot = self
                    .p
                    .slot(*k)
                    .ok_or_else(|| internal(format!("slot {} out of range", k.0)))?;
                match slot.ty {
                    SlotType::String => VTy::Str,
                    SlotType::Set => VTy::Set,
                    SlotType::Int => VTy::Int,
                    SlotType::Bool => VTy::Bool,
                    SlotType::Ip => VTy::Ip,
                }
            }
        })
    }

    fn expect(&mut self, a: &mut Asm, cx: Ctx, id: ExprId, want: VTy) -> Result<(), CodegenError> {
        let got = self.expr(a, cx, id)?;
        if got == want {
            Ok(())
        } else {
            Err(internal(format!(
                "expression {} is {got:?} where {want:?} is needed",
                id.0
            )))
        }
    }

    /// Emits two operands of one type and a call to a helper on them.
    fn call2(
        &mut self,
        a: &mut Asm,
        cx: Ctx,
        (l, lt): (ExprId, VTy),
        (r, rt): (ExprId, VTy),
        h: Helper,
    ) -> Result<VTy, CodegenError> {
        let f = self.helper(h)?;
        self.expect(a, cx, l, lt)?;
        self.expect(a, cx, r, rt)?;
        a.call(f);
        Ok(VTy::Bool)
    }

    /// Pushes `(hi << 32) | lo` for two entity operands.
    fn pair(&mut self, a: &mut Asm, cx: Ctx, hi: ExprId, lo: ExprId) -> Result<(), CodegenError> {
        self.expect(a, cx, hi, VTy::Entity)?;
        a.op(I::I64ExtendI32U).i64c(32).op(I::I64Shl);
        self.expect(a, cx, lo, VTy::Entity)?;
        a.op(I::I64ExtendI32U).op(I::I64Or);
        Ok(())
    }

    /// Looks an entity pair up in a sorted pair table.
    fn has_pair(
        &mut self,
        a: &mut Asm,
        cx: Ctx,
        hi: ExprId,
        lo: ExprId,
        table: (u32, u32),
    ) -> Result<VTy, CodegenError> {
        if table.1 == 0 {
            self.pair(a, cx, hi, lo)?;
            a.op(I::Drop).i32c(0);
        } else {
            let f = self.helper(Helper::HasPair)?;
            a.u32c(table.0).u32c(table.1);
            self.pair(a, cx, hi, lo)?;
            a.call(f);
        }
        Ok(VTy::Bool)
    }

    /// Branches to the error label when the i32 on the stack is negative; keeps it otherwise.
    fn err_if_neg(a: &mut Asm, cx: Ctx) {
        let t = a.tmp32();
        a.tee(t).i32c(0).op(I::I32LtS).br_if_to(cx.err);
        a.get(t);
    }

    /// The slots an expression proves present when it evaluates to `when`.
    fn guards(&self, id: ExprId, when: bool) -> u128 {
        match (self.p.expr(id), when) {
            (Some(Expr::Has(k)), true) => bit(k.0),
            (Some(Expr::Not(x)), _) => self.guards(*x, !when),
            (Some(Expr::And(l, r)), true) | (Some(Expr::Or(l, r)), false) => {
                self.guards(*l, when) | self.guards(*r, when)
            }
            _ => 0,
        }
    }

    /// Emits `id`, leaving its value on the stack (or branching to `cx.err`).
    pub fn expr(&mut self, a: &mut Asm, cx: Ctx, id: ExprId) -> Result<VTy, CodegenError> {
        let e = self.node(id)?.clone();
        let ty = self.vty(id)?;
        match e {
            Expr::Bool(b) => {
                a.i32c(i32::from(b));
            }
            Expr::Int(i) => {
                a.i64c(i);
            }
            Expr::Str(s) => {
                let (p, n) = self.lay.str_bytes(s.as_bytes());
                a.u32c(p).u32c(n);
            }
            Expr::StrList(items) => {
                let (p, n) = self.lay.set(&items);
                a.u32c(p).u32c(n);
            }
            Expr::Cidr(ip, prefix) => {
                // IPv4 as IPv4-mapped; a raw IPv4 prefix (<= 32) moves past the 96 mapped bits
                let prefix = match ip {
                    std::net::IpAddr::V4(_) if prefix <= 32 => prefix + 96,
                    _ => prefix,
                };
                let ip = crate::wasm::abi::ip16(ip);
                let p = self.lay.raw(&ip.octets(), 1);
                a.u32c(p).i32c(i32::from(prefix.min(128)));
            }
            Expr::Slot(k) => {
                let s = self.lay.slot(k.0);
                let required = self.p.slot(k).is_some_and(|s| !s.optional);
                if !required && cx.present & bit(k.0) == 0 {
                    a.load32_at(s).op(I::I32Eqz).br_if_to(cx.err);
                }
                match ty {
                    VTy::Str | VTy::Set => {
                        a.load32_at(s + 4).load32_at(s + 8);
                    }
                    VTy::Int => {
                        a.i32c(0).ld64(s + 8);
                    }
                    VTy::Bool => {
                        a.load32_at(s + 8);
                    }
                    _ => {
                        a.load32_at(s + 4);
                    }
                }
            }
            Expr::Has(k) => {
                // the decoder stores 1 for a present slot, 0 for an absent one
                a.load32_at(self.lay.slot(k.0));
            }
            Expr::Param(i) => {
                let p = self.lay.params + i * 8;
                a.load32_at(p).load32_at(p + 4);
            }
            Expr::Target => {
                a.op(I::GlobalGet(G_TARGET));
                if !cx.has_target {
                    Self::err_if_neg(a, cx);
                }
            }
            Expr::Principal => {
                if self.binds_principal() {
                    // bound already (the common case) without a call
                    let principal = self.helper(Helper::Principal)?;
                    a.op(I::GlobalGet(G_PRINCIPAL))
                        .i32c(super::routing::UNBOUND_YET)
                        .op(I::I32Eq);
                    a.if_(BlockType::Result(ValType::I32));
                    a.call(principal);
                    a.else_();
                    a.op(I::GlobalGet(G_PRINCIPAL));
                    a.end();
                } else {
                    a.op(I::GlobalGet(G_PRINCIPAL));
                }
                Self::err_if_neg(a, cx);
            }
            Expr::Entity(e) => {
                a.u32c(e.0);
            }
            Expr::Field(ent, f) => {
                let (tab, n) = self.field_table(f)?;
                let find = self.helper(Helper::Find)?;
                a.u32c(tab).u32c(n);
                self.expect(a, cx, ent, VTy::Entity)?;
                a.call(find);
                let (t64, t32) = (a.tmp64(), a.tmp32());
                a.tee(t64).i64c(-1).op(I::I64Eq).br_if_to(cx.err);
                a.get(t64).op(I::I32WrapI64).tee(t32).i32c(4).op(I::I32Add);
                a.get(t32).ld32(0);
            }
            Expr::Related(ent, rel) => {
                let (tab, n) = self.owner_table(rel);
                let find = self.helper(Helper::Find)?;
                a.u32c(tab).u32c(n);
                self.expect(a, cx, ent, VTy::Entity)?;
                a.call(find);
                let t64 = a.tmp64();
                a.tee(t64).i64c(-1).op(I::I64Eq).br_if_to(cx.err);
                a.get(t64).op(I::I32WrapI64);
            }
            Expr::Eq(l, r) | Expr::Ne(l, r) => {
                let lt = self.vty(l)?;
                match lt {
                    VTy::Str => {
                        self.call2(a, cx, (l, VTy::Str), (r, VTy::Str), Helper::Eq)?;
                    }
                    VTy::Int => {
                        self.expect(a, cx, l, lt)?;
                        self.expect(a, cx, r, lt)?;
                        a.op(I::I64Eq);
                    }
                    VTy::Bool | VTy::Entity => {
                        self.expect(a, cx, l, lt)?;
                        self.expect(a, cx, r, lt)?;
                        a.op(I::I32Eq);
                    }
                    VTy::Ip => {
                        let f = self.helper(Helper::Eq)?;
                        self.expect(a, cx, l, lt)?;
                        a.i32c(16);
                        self.expect(a, cx, r, lt)?;
                        a.i32c(16).call(f);
                    }
                    VTy::Set | VTy::Cidr => {
                        return Err(internal(format!("`==` on {lt:?} values")));
                    }
                }
                if matches!(e, Expr::Ne(..)) {
                    a.op(I::I32Eqz);
                }
            }
            Expr::Lt(l, r) | Expr::Le(l, r) | Expr::Gt(l, r) | Expr::Ge(l, r) => {
                self.expect(a, cx, l, VTy::Int)?;
                self.expect(a, cx, r, VTy::Int)?;
                a.op(match e {
                    Expr::Lt(..) => I::I64LtS,
                    Expr::Le(..) => I::I64LeS,
                    Expr::Gt(..) => I::I64GtS,
                    _ => I::I64GeS,
                });
            }
            Expr::SetHas { set, elem } => {
                self.call2(a, cx, (set, VTy::Set), (elem, VTy::Str), Helper::SetHas)?;
            }
            Expr::StrContains { haystack, needle } => {
                self.call2(
                    a,
                    cx,
                    (haystack, VTy::Str),
                    (needle, VTy::Str),
                    Helper::Contains,
                )?;
            }
            Expr::StartsWith(l, r) => {
                self.call2(a, cx, (l, VTy::Str), (r, VTy::Str), Helper::StartsWith)?;
            }
            Expr::EndsWith(l, r) => {
                self.call2(a, cx, (l, VTy::Str), (r, VTy::Str), Helper::EndsWith)?;
            }
            Expr::Matches(l, r) => {
                self.call2(a, cx, (l, VTy::Str), (r, VTy::Str), Helper::Glob)?;
            }
            Expr::IpIn(l, r) => {
                self.call2(a, cx, (l, VTy::Ip), (r, VTy::Cidr), Helper::IpIn)?;
            }
            Expr::InGroup { member, group } => {
                let t = self.groups_table();
                self.has_pair(a, cx, member, group, t)?;
            }
            Expr::PartOf { part, whole } => {
                let t = self.part_of_table();
                self.has_pair(a, cx, part, whole, t)?;
            }
            Expr::Owns { owner, owned } => {
                let f = self.helper(Helper::Owns)?;
                self.expect(a, cx, owner, VTy::Entity)?;
                self.expect(a, cx, owned, VTy::Entity)?;
                a.call(f);
            }
            Expr::Add(l, r) | Expr::Sub(l, r) => {
                self.expect(a, cx, l, VTy::Int)?;
                self.expect(a, cx, r, VTy::Int)?;
                a.op(if matches!(e, Expr::Add(..)) {
                    I::I64Add
                } else {
                    I::I64Sub
                });
            }
            Expr::And(l, r) | Expr::Or(l, r) => {
                let and = matches!(e, Expr::And(..));
                self.expect(a, cx, l, VTy::Bool)?;
                a.if_(BlockType::Result(ValType::I32));
                // `r` runs only when `l` was true (and) or false (or): its guards hold there
                let inner = Ctx {
                    present: cx.present | self.guards(l, and),
                    ..cx
                };
                if and {
                    self.expect(a, inner, r, VTy::Bool)?;
                    a.else_().i32c(0);
                } else {
                    a.i32c(1).else_();
                    self.expect(a, inner, r, VTy::Bool)?;
                }
                a.end();
            }
            Expr::Not(x) => {
                self.expect(a, cx, x, VTy::Bool)?;
                a.op(I::I32Eqz);
            }
        }
        Ok(ty)
    }

    /// Emits one rule: when it decides, leaves the function (through `exits` when set).
    pub fn rule(
        &mut self,
        a: &mut Asm,
        idx: RuleIdx,
        has_target: bool,
        exits: &Exits,
    ) -> Result<(), CodegenError> {
        let r = self
            .p
            .rule(idx)
            .ok_or_else(|| internal(format!("rule {} out of range", idx.0)))?;
        let (effect, cond) = (r.effect, r.cond);
        let (outcome, decide_when_true) = match effect {
            Effect::Allow => (Outcome::Allow, true),
            Effect::Deny => (Outcome::Deny, true),
            Effect::Require => (Outcome::Require, false),
        };
        let Some(cond) = cond else {
            if effect != Effect::Require {
                decide(a, exits, outcome, idx.0);
            }
            return Ok(());
        };
        let next = a.block(BlockType::Empty);
        if effect == Effect::Allow {
            // an erring allow is skipped
            let cx = Ctx {
                err: next,
                has_target,
                present: 0,
            };
            self.expect(a, cx, cond, VTy::Bool)?;
            a.op(I::I32Eqz).br_if_to(next);
        } else {
            // an erring deny or require decides
            let hit = a.block(BlockType::Empty);
            let cx = Ctx {
                err: hit,
                has_target,
                present: 0,
            };
            self.expect(a, cx, cond, VTy::Bool)?;
            if decide_when_true {
                a.op(I::I32Eqz);
            }
            a.br_if_to(next);
            a.end();
        }
        decide(a, exits, outcome, idx.0);
        a.end();
        Ok(())
    }
}
