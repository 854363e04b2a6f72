//! The input decoder: validates the encoded slots (DESIGN §3) into the slot table, bounds-checking
//! every read, and answers whether the input is well formed.

use wasm_encoder::{BlockType, Instruction as I, ValType};

use super::asm::Asm;
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

impl Gen<'_> {
    /// `decode(len) -> i32`: 1 when the input is well formed (slot table filled), else 0.
    pub fn decode_fn(&mut self) -> Result<Asm, CodegenError> {
        let mut a = Asm::new(1);
        let len_param = 0;
        let (pos, end, len, cnt) = (
            a.local(ValType::I32),
            a.local(ValType::I32),
            a.local(ValType::I32),
            a.local(ValType::I32),
        );
        a.u32c(self.lay.input)
            .tee(pos)
            .get(len_param)
            .op(I::I32Add)
            .set(end);
        let slots: Vec<(SlotType, bool)> =
            self.p.slots.iter().map(|s| (s.ty, s.optional)).collect();
        for (k, (ty, optional)) in slots.into_iter().enumerate() {
            let s = self.lay.slot(k as u32);
            need(&mut a, pos, end, 1);
            let next = a.block(BlockType::Empty);
            a.get(pos).ld8(0).set(len);
            advance(&mut a, pos, 1);
            a.get(len).op(I::I32Eqz);
            a.if_(BlockType::Empty);
            if optional {
                a.i32c(0).i32c(0).st32(s);
                a.br_to(next);
            } else {
                a.i32c(0).ret();
            }
            a.end();
            a.get(len).i32c(i32::from(ty.tag())).op(I::I32Ne);
            a.if_(BlockType::Empty);
            a.i32c(0).ret();
            a.end();
            a.i32c(0).i32c(1).st32(s);
            match ty {
                SlotType::String => {
                    string(&mut a, pos, end, len);
                    a.i32c(0).get(pos).st32(s + 4);
                    a.i32c(0).get(len).op(I::I64ExtendI32U).st64(s + 8);
                    a.get(pos).get(len).op(I::I32Add).set(pos);
                }
                SlotType::Set => {
                    need(&mut a, pos, end, 4);
                    a.get(pos).ld32(0).set(cnt);
                    advance(&mut a, pos, 4);
                    a.i32c(0).get(pos).st32(s + 4);
                    a.i32c(0).get(cnt).op(I::I64ExtendI32U).st64(s + 8);
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
                    a.i32c(0).get(pos).ld64(0).st64(s + 8);
                    advance(&mut a, pos, 8);
                }
                SlotType::Bool => {
                    need(&mut a, pos, end, 1);
                    a.get(pos).ld8(0).tee(len).i32c(1).op(I::I32GtU);
                    a.if_(BlockType::Empty);
                    a.i32c(0).ret();
                    a.end();
                    a.i32c(0).get(len).op(I::I64ExtendI32U).st64(s + 8);
                    advance(&mut a, pos, 1);
                }
                SlotType::Ip => {
                    need(&mut a, pos, end, 16);
                    a.i32c(0).get(pos).st32(s + 4);
                    advance(&mut a, pos, 16);
                }
            }
            a.end();
        }
        a.get(pos).get(end).op(I::I32Eq);
        Ok(a)
    }
}
