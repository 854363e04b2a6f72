//! The input decoder: validates the encoded slots (DESIGN §3) into the slot table, bounds-checking
//! every read, and answers whether the input is well formed.

use wasm_encoder::{BlockType, Instruction as I, ValType};

use super::asm::Asm;
use super::runtime::Helper;
use super::{CodegenError, Gen};
use crate::ir::SlotType;

/// `if end - pos < k { return 0 }`
fn need(a: &mut Asm, pos: u32, end: u32, k: i32) {
    a.get(end).get(pos).op(I::I32Sub).i32c(k).op(I::I32LtU);
    a.if_(BlockType::Empty);
    a.i32c(0).ret();
    a.end();
}

fn advance(a: &mut Asm, pos: u32, k: i32) {
    a.get(pos).i32c(k).op(I::I32Add).set(pos);
}

/// Reads a `u32 len` + bytes string at `pos`, leaving `pos` after the length in `start` and the
/// length in `len`; returns 0 from the function when it runs past `end`.
fn string(a: &mut Asm, pos: u32, end: u32, len: u32) {
    need(a, pos, end, 4);
    a.get(pos).ld32(0).set(len);
    advance(a, pos, 4);
    a.get(len).get(end).get(pos).op(I::I32Sub).op(I::I32GtU);
    a.if_(BlockType::Empty);
    a.i32c(0).ret();
    a.end();
}

/// The body of `slot(pos, end, entry, spec) -> pos'`: decodes one slot at `pos` into the slot
/// table entry at `entry`; `spec` is the expected tag, plus 256 when the slot is optional. Returns
/// the position after the slot, or 0 when the input is malformed (0 is never a valid position).
/// Only the slot types the program has get a branch.
pub(crate) fn slot_helper(g: &Gen) -> Asm {
    let mut a = Asm::new(4);
    let (pos, end, entry, spec) = (0, 1, 2, 3);
    let (len, cnt) = (a.local(ValType::I32), a.local(ValType::I32));
    need(&mut a, pos, end, 1);
    a.get(pos).ld8(0).set(len);
    advance(&mut a, pos, 1);
    a.get(len).op(I::I32Eqz);
    a.if_(BlockType::Empty);
    a.get(spec).i32c(8).op(I::I32ShrU);
    a.if_(BlockType::Empty);
    a.get(entry).i32c(0).st32(0);
    a.get(pos).ret();
    a.end();
    a.i32c(0).ret();
    a.end();
    a.get(len).get(spec).i32c(0xff).op(I::I32And).op(I::I32Ne);
    a.if_(BlockType::Empty);
    a.i32c(0).ret();
    a.end();
    a.get(entry).i32c(1).st32(0);
    let mut types: Vec<SlotType> = g.p.slots.iter().map(|s| s.ty).collect();
    types.sort_by_key(|t| t.tag());
    types.dedup();
    for ty in types {
        a.get(len).i32c(i32::from(ty.tag())).op(I::I32Eq);
        a.if_(BlockType::Empty);
        match ty {
            SlotType::String => {
                string(&mut a, pos, end, len);
                a.get(entry).get(pos).st32(4);
                a.get(entry).get(len).op(I::I64ExtendI32U).st64(8);
                a.get(pos).get(len).op(I::I32Add).set(pos);
            }
            SlotType::Set => {
                need(&mut a, pos, end, 4);
                a.get(pos).ld32(0).set(cnt);
                advance(&mut a, pos, 4);
                a.get(entry).get(pos).st32(4);
                a.get(entry).get(cnt).op(I::I64ExtendI32U).st64(8);
                let done = a.block(BlockType::Empty);
                let l = a.loop_();
                a.get(cnt).op(I::I32Eqz).br_if_to(done);
                string(&mut a, pos, end, len);
                a.get(pos).get(len).op(I::I32Add).set(pos);
                a.get(cnt).i32c(1).op(I::I32Sub).set(cnt);
                a.br_to(l).end().end();
            }
            SlotType::Int => {
                need(&mut a, pos, end, 8);
                a.get(entry).get(pos).ld64(0).st64(8);
                advance(&mut a, pos, 8);
            }
            SlotType::Bool => {
                need(&mut a, pos, end, 1);
                a.get(pos).ld8(0).tee(len).i32c(1).op(I::I32GtU);
                a.if_(BlockType::Empty);
                a.i32c(0).ret();
                a.end();
                a.get(entry).get(len).op(I::I64ExtendI32U).st64(8);
                advance(&mut a, pos, 1);
            }
            SlotType::Ip => {
                need(&mut a, pos, end, 16);
                a.get(entry).get(pos).st32(4);
                advance(&mut a, pos, 16);
            }
        }
        a.get(pos).ret();
        a.end();
    }
    a.i32c(0);
    a
}

impl Gen<'_> {
    /// `decode(len) -> i32`: 1 when the input is well formed (slot table filled), else 0.
    pub fn decode_fn(&mut self) -> Result<Asm, CodegenError> {
        let slot_fn = self.helper(Helper::Slot)?;
        let mut a = Asm::new(1);
        let len_param = 0;
        let (pos, end) = (a.local(ValType::I32), a.local(ValType::I32));
        a.u32c(self.lay.input)
            .tee(pos)
            .get(len_param)
            .op(I::I32Add)
            .set(end);
        let slots: Vec<(SlotType, bool)> =
            self.p.slots.iter().map(|s| (s.ty, s.optional)).collect();
        for (k, (ty, optional)) in slots.into_iter().enumerate() {
            let spec = i32::from(ty.tag()) | if optional { 256 } else { 0 };
            a.get(pos)
                .get(end)
                .u32c(self.lay.slot(k as u32))
                .i32c(spec)
                .call(slot_fn)
                .tee(pos)
                .op(I::I32Eqz);
            a.if_(BlockType::Empty);
            a.i32c(0).ret();
            a.end();
        }
        a.get(pos).get(end).op(I::I32Eq);
        Ok(a)
    }
}
