//! Routing (DESIGN §7.1–7.2): route order, the `edgeward_decide` entry (decode, split, match in
//! order, bind the principal) and one function per route (params, target, rules).

use wasm_encoder::{BlockType, Instruction as I, ValType};

use super::asm::Asm;
use super::expr::{Exits, word};
use super::layout::INPUT_CAPACITY;
use super::runtime::Helper;
use super::{CodegenError, G_PRINCIPAL, G_ROUTE, G_TARGET, Gen, internal};
use crate::ir::{self, Binding, Expr, Methods, Seg, SlotType, Target, TemplatePart};
use crate::wasm::abi::Outcome;

/// A string of one to eight bytes as a little-endian word (zeros after it); `None` otherwise.
fn short_word(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 8 {
        return None;
    }
    let mut word = [0u8; 8];
    for (w, b) in word.iter_mut().zip(s.bytes()) {
        *w = b;
    }
    Some(i64::from_le_bytes(word))
}

/// The principal global before the bindings have run in this decision.
pub(crate) const UNBOUND_YET: i32 = -2;

impl Gen<'_> {
    fn string_slot(&self, k: ir::SlotIdx) -> Result<u32, CodegenError> {
        match self.p.slot(k) {
            Some(s) if s.ty == SlotType::String => Ok(self.lay.slot(k.0)),
            _ => Err(internal(format!("slot {} is not a string slot", k.0))),
        }
    }

    /// `global principal = lookup(binding)` when the binding's claim is present.
    fn bind(
        &mut self,
        a: &mut Asm,
        b: &Binding,
        only_if_unbound: bool,
    ) -> Result<(), CodegenError> {
        let Ok(s) = self.string_slot(b.claim) else {
            // a binding whose claim is not a string matches nothing
            return Ok(());
        };
        let entries: Vec<(&str, u32)> = b.table.iter().map(|(k, e)| (k.as_str(), e.0)).collect();
        if entries.is_empty() {
            return Ok(());
        }
        let (tab, n) = self.lay.string_table(&entries);
        let lookup = self.helper(Helper::LookupStr)?;
        a.load32_at(s).i32c(0).op(I::I32Ne);
        if only_if_unbound {
            a.op(I::GlobalGet(G_PRINCIPAL))
                .i32c(0)
                .op(I::I32LtS)
                .op(I::I32And);
        }
        a.if_(BlockType::Empty);
        a.u32c(tab).u32c(n).load32_at(s + 4).load32_at(s + 8);
        a.i32c(i32::from(b.ascii_case_insensitive)).call(lookup);
        a.op(I::GlobalSet(G_PRINCIPAL));
        a.end();
        Ok(())
    }

    /// Whether the program binds a principal at all (else `principal` is always unbound).
    pub(crate) fn binds_principal(&self) -> bool {
        self.p.principal.is_some() || self.p.service.is_some()
    }

    /// The body of [`Helper::Principal`]: the bindings run on the first read of `principal` in a
    /// decision (the global holds [`UNBOUND_YET`] until then), so that a request whose rules
    /// never read it (a public route, no route) costs no lookup.
    pub(crate) fn principal_body(&mut self) -> Result<Asm, CodegenError> {
        let mut a = Asm::new(0);
        a.op(I::GlobalGet(G_PRINCIPAL))
            .i32c(UNBOUND_YET)
            .op(I::I32Eq);
        a.if_(BlockType::Empty);
        a.i32c(-1).op(I::GlobalSet(G_PRINCIPAL));
        if let Some(b) = self.p.principal.clone() {
            self.bind(&mut a, &b, false)?;
        }
        if let Some(b) = self.p.service.clone() {
            self.bind(&mut a, &b, self.p.principal.is_some())?;
        }
        a.end();
        a.op(I::GlobalGet(G_PRINCIPAL));
        Ok(a)
    }

    /// `edgeward_decide(len) -> i64`.
    pub fn decide_fn(&mut self, decode: u32, route_fns: &[u32]) -> Result<Asm, CodegenError> {
        let mut a = Asm::new(1);
        let len = 0;
        let nseg = a.local(ValType::I32);
        a.i32c(-1).op(I::GlobalSet(G_ROUTE));
        // the length check must come first: `decode` trusts `len`
        a.get(len).u32c(INPUT_CAPACITY).op(I::I32GtU);
        a.if_(BlockType::Empty);
        a.i64c(word(Outcome::BadInput, None)).ret();
        a.end();
        a.get(len).call(decode).op(I::I32Eqz);
        a.if_(BlockType::Empty);
        a.i64c(word(Outcome::BadInput, None)).ret();
        a.end();
        if self.p.routes.is_empty() {
            a.i64c(word(Outcome::NoRoute, None));
            return Ok(a);
        }
        let method = self.string_slot(ir::SLOT_METHOD)?;
        let host = self.string_slot(ir::SLOT_HOST)?;
        let path = self.string_slot(ir::SLOT_PATH)?;
        let split = self.helper(Helper::Split)?;
        a.load32_at(path + 4)
            .load32_at(path + 8)
            .call(split)
            .set(nseg);
        let unbound = if self.binds_principal() {
            UNBOUND_YET
        } else {
            -1
        };
        a.i32c(unbound).op(I::GlobalSet(G_PRINCIPAL));
        let eq = self.helper(Helper::Eq)?;
        // the request method as a bit among the methods routes name (0: none of them)
        let mut names: Vec<String> = self
            .p
            .routes
            .iter()
            .filter_map(|r| match &r.methods {
                Methods::List(ms) => Some(ms.clone()),
                Methods::Any => None,
            })
            .flatten()
            .collect();
        names.sort();
        names.dedup();
        let mbits = a.local(ValType::I32);
        let use_bits = names.len() <= 31;
        if use_bits && !names.is_empty() {
            let known = a.block(BlockType::Empty);
            for (i, m) in names.iter().enumerate() {
                if let Some(word) = short_word(m) {
                    // the length, then up to eight bytes as one word, inline (the method's bytes
                    // lie in the input buffer, which keeps eight bytes after its end)
                    let other = a.block(BlockType::Empty);
                    a.load32_at(method + 8)
                        .u32c(m.len() as u32)
                        .op(I::I32Ne)
                        .br_if_to(other);
                    a.load32_at(method + 4).ld64(0);
                    if m.len() < 8 {
                        a.i64c(((1u64 << (8 * m.len())) - 1) as i64).op(I::I64And);
                    }
                    a.i64c(word).op(I::I64Ne).br_if_to(other);
                    a.i32c(1 << i).set(mbits).br_to(known);
                    a.end();
                    continue;
                }
                let (p, n) = self.lay.str_bytes(m.as_bytes());
                a.load32_at(method + 4)
                    .load32_at(method + 8)
                    .u32c(p)
                    .u32c(n)
                    .call(eq);
                a.if_(BlockType::Empty);
                a.i32c(1 << i).set(mbits).br_to(known);
                a.end();
            }
            a.end();
        }
        for k in self.p.route_order.clone() {
            let r = self
                .p
                .routes
                .get(k as usize)
                .ok_or_else(|| internal("route order out of range"))?
                .clone();
            let f = *route_fns
                .get(k as usize)
                .ok_or_else(|| internal("route function missing"))?;
            let fail = a.block(BlockType::Empty);
            a.get(nseg).u32c(r.segments.len() as u32);
            a.op(if r.star { I::I32LtU } else { I::I32Ne });
            a.br_if_to(fail);
            for (i, seg) in r.segments.iter().enumerate() {
                let sa = self.lay.segs + 8 * i as u32;
                match seg {
                    Seg::Lit(s) => {
                        a.load32_at(sa + 4)
                            .u32c(s.len() as u32)
                            .op(I::I32Ne)
                            .br_if_to(fail);
                        if !s.is_empty() {
                            // Up to eight bytes compared inline, as one word (the layout keeps
                            // eight bytes of memory after every byte a segment can hold).
                            let mut word = [0u8; 8];
                            let head = s.len().min(8);
                            for (w, b) in word.iter_mut().zip(s.bytes()) {
                                *w = b;
                            }
                            a.load32_at(sa).ld64(0);
                            if head < 8 {
                                a.i64c(((1u64 << (8 * head)) - 1) as i64).op(I::I64And);
                            }
                            a.i64c(i64::from_le_bytes(word)).op(I::I64Ne).br_if_to(fail);
                            if s.len() > 8 {
                                let (p, n) = self.lay.str_bytes(s.as_bytes());
                                a.load32_at(sa).u32c(n).u32c(p).u32c(n).call(eq);
                                a.op(I::I32Eqz).br_if_to(fail);
                            }
                        }
                    }
                    Seg::Param(_) => {
                        a.load32_at(sa + 4).op(I::I32Eqz).br_if_to(fail);
                    }
                }
            }
            if let (Methods::List(ms), true) = (&r.methods, use_bits) {
                let mask = ms
                    .iter()
                    .filter_map(|m| names.iter().position(|n| n == m))
                    .fold(0i32, |acc, i| acc | (1 << i));
                a.get(mbits)
                    .i32c(mask)
                    .op(I::I32And)
                    .op(I::I32Eqz)
                    .br_if_to(fail);
            } else if let Methods::List(ms) = &r.methods {
                let ok = a.block(BlockType::Empty);
                for m in ms {
                    let (p, n) = self.lay.str_bytes(m.as_bytes());
                    a.load32_at(method + 4)
                        .load32_at(method + 8)
                        .u32c(p)
                        .u32c(n)
                        .call(eq);
                    a.br_if_to(ok);
                }
                a.br_to(fail);
                a.end();
            }
            if let Some(h) = &r.host {
                let eq = self.helper(Helper::EqCi)?;
                let (p, n) = self.lay.str_bytes(h.as_bytes());
                a.load32_at(host + 4)
                    .load32_at(host + 8)
                    .u32c(p)
                    .u32c(n)
                    .i32c(1)
                    .call(eq)
                    .op(I::I32Eqz);
                a.br_if_to(fail);
            }
            a.u32c(k).op(I::GlobalSet(G_ROUTE));
            a.call(f).ret();
            a.end();
        }
        a.i64c(word(Outcome::NoRoute, None));
        Ok(a)
    }

    /// `top() -> i64`: the top-level denies; 0 when none decides.
    pub fn top_fn(&mut self) -> Result<Asm, CodegenError> {
        let mut a = Asm::new(0);
        for r in self.p.top_denies.clone() {
            self.rule(&mut a, r, false, &Exits::default())?;
        }
        a.i64c(0);
        Ok(a)
    }

    /// `route_k() -> i64`: decodes the params, resolves the target, runs the rules.
    pub fn route_fn(&mut self, k: usize, top: Option<u32>) -> Result<Asm, CodegenError> {
        let r = self
            .p
            .routes
            .get(k)
            .ok_or_else(|| internal("route out of range"))?
            .clone();
        let mut a = Asm::new(0);
        let mut has_target = true;
        // A param is decoded when something reads it: the target's template, or (when any rule
        // of the program reads a param at all) the route's rules. Decoding never fails, so one
        // nothing reads is skipped.
        let rules_read_params = self.p.exprs.iter().any(|e| matches!(e, Expr::Param(_)));
        let read = |j: u32| {
            rules_read_params
                || matches!(&r.target, Some(Target::Template { parts, .. })
                    if parts.contains(&TemplatePart::Param(j)))
        };
        let params: Vec<(usize, u32)> = r
            .segments
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Seg::Param(j) if read(*j) => Some((i, *j)),
                _ => None,
            })
            .collect();
        if !params.is_empty() {
            let param = self.helper(Helper::Param)?;
            let mut dst = None;
            for (i, j) in params {
                let sa = self.lay.segs + 8 * i as u32;
                let pa = self.lay.params + 8 * j;
                a.u32c(sa).u32c(pa);
                match dst {
                    None => a.u32c(self.lay.pbuf),
                    Some(d) => a.get(d),
                };
                a.call(param);
                let d = *dst.get_or_insert_with(|| a.local(ValType::I32));
                a.set(d);
            }
        }
        match &r.target {
            None => {
                has_target = false;
                a.i32c(-1).op(I::GlobalSet(G_TARGET));
            }
            Some(Target::Fixed(e)) => {
                a.u32c(e.0).op(I::GlobalSet(G_TARGET));
            }
            Some(Target::Template {
                parts, candidates, ..
            }) => {
                let entries: Vec<(&str, u32)> =
                    candidates.iter().map(|(n, e)| (n.as_str(), e.0)).collect();
                if entries.is_empty() {
                    a.i64c(word(Outcome::UnknownTarget, None));
                    return Ok(a);
                }
                let (tab, n) = self.lay.string_table(&entries);
                let lookup = self.helper(Helper::LookupStr)?;
                let t = a.local(ValType::I32);
                a.u32c(self.lay.tbuf).set(t);
                for part in parts {
                    match part {
                        TemplatePart::Lit(s) => {
                            let (p, n) = self.lay.str_bytes(s.as_bytes());
                            a.get(t).u32c(p).u32c(n).op(I::MemoryCopy {
                                src_mem: 0,
                                dst_mem: 0,
                            });
                            a.get(t).u32c(n).op(I::I32Add).set(t);
                        }
                        TemplatePart::Param(j) => {
                            let pa = self.lay.params + 8 * j;
                            a.get(t).load32_at(pa).load32_at(pa + 4).op(I::MemoryCopy {
                                src_mem: 0,
                                dst_mem: 0,
                            });
                            a.get(t).load32_at(pa + 4).op(I::I32Add).set(t);
                        }
                    }
                }
                a.u32c(tab).u32c(n).u32c(self.lay.tbuf);
                a.get(t)
                    .u32c(self.lay.tbuf)
                    .op(I::I32Sub)
                    .i32c(1)
                    .call(lookup);
                a.tee(t).op(I::GlobalSet(G_TARGET));
                a.get(t).i32c(0).op(I::I32LtS);
                a.if_(BlockType::Empty);
                a.i64c(word(Outcome::UnknownTarget, None)).ret();
                a.end();
            }
        }
        if let Some(top) = top {
            let w = a.tmp64();
            a.call(top).tee(w).op(I::I64Eqz).op(I::I32Eqz);
            a.if_(BlockType::Empty);
            a.get(w).ret();
            a.end();
        }
        // each effect's rules branch to one shared exit with the rule index
        let mut exits = Exits::default();
        let used = [
            (Outcome::Require, !r.requires.is_empty()),
            (Outcome::Deny, !r.denies.is_empty()),
            (Outcome::Allow, !r.allows.is_empty()),
        ];
        for (o, u) in used {
            if u {
                let level = a.block(BlockType::Result(ValType::I32));
                exits.set(o, level);
            }
        }
        for rule in r.denies.iter().chain(&r.requires).chain(&r.allows) {
            self.rule(&mut a, *rule, has_target, &exits)?;
        }
        a.i64c(word(Outcome::Default, None)).ret();
        for (o, u) in used.iter().rev() {
            if *u {
                a.end();
                a.op(I::I64ExtendI32U).i64c(32).op(I::I64Shl);
                a.i64c(i64::from(o.code())).op(I::I64Or).ret();
            }
        }
        Ok(a)
    }
}
