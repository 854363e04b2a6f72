//! The input decoder: validates the encoded slots (DESIGN §3) into the slot table, bounds-checking
//! every read, and answers whether the input is well formed.

use wasm_encoder::{BlockType, Instruction as I, ValType};

use super::asm::Asm;
use super::layout::SLOT_STRIDE;
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

/// Decodes one slot of type `ty` (its tag already read and checked) at `pos` into the slot table
/// entry at `entry`, leaving `pos` after it; returns 0 from the function when it runs past `end`.
fn slot_value(a: &mut Asm, ty: SlotType, [pos, end, entry, len, cnt]: [u32; 5]) {
    match ty {
        SlotType::String => {
            string(a, pos, end, len);
            a.get(entry).get(pos).st32(4);
            a.get(entry).get(len).op(I::I64ExtendI32U).st64(8);
            a.get(pos).get(len).op(I::I32Add).set(pos);
        }
        SlotType::Set => {
            need(a, pos, end, 4);
            a.get(pos).ld32(0).set(cnt);
            advance(a, pos, 4);
            a.get(entry).get(pos).st32(4);
            a.get(entry).get(cnt).op(I::I64ExtendI32U).st64(8);
            let done = a.block(BlockType::Empty);
            let l = a.loop_();
            a.get(cnt).op(I::I32Eqz).br_if_to(done);
            string(a, pos, end, len);
            a.get(pos).get(len).op(I::I32Add).set(pos);
            a.get(cnt).i32c(1).op(I::I32Sub).set(cnt);
            a.br_to(l).end().end();
        }
        SlotType::Int => {
            need(a, pos, end, 8);
            a.get(entry).get(pos).ld64(0).st64(8);
            advance(a, pos, 8);
        }
        SlotType::Bool => {
            need(a, pos, end, 1);
            a.get(pos).ld8(0).tee(len).i32c(1).op(I::I32GtU);
            a.if_(BlockType::Empty);
            a.i32c(0).ret();
            a.end();
            a.get(entry).get(len).op(I::I64ExtendI32U).st64(8);
            advance(a, pos, 1);
        }
        SlotType::Ip => {
            need(a, pos, end, 16);
            a.get(entry).get(pos).st32(4);
            advance(a, pos, 16);
        }
    }
}

/// A slot's byte in the decoder's table: its tag, plus [`OPTIONAL`] when it may be absent.
const OPTIONAL: u8 = 0x80;

impl Gen<'_> {
    /// `decode(len) -> i32`: 1 when the input is well formed (slot table filled), else 0.
    ///
    /// One loop over the slots, steered by a table of one byte per slot (its tag, and whether it
    /// may be absent): no call per slot, and the same code for any number of slots. Only the slot
    /// types the program has get a branch; the commonest (strings) is tested first.
    pub fn decode_fn(&mut self) -> Result<Asm, CodegenError> {
        let mut a = Asm::new(1);
        let len_param = 0;
        let [pos, end, entry, spec, tag, len, cnt] = [(); 7].map(|()| a.local(ValType::I32));
        a.u32c(self.lay.input)
            .tee(pos)
            .get(len_param)
            .op(I::I32Add)
            .set(end);
        let specs: Vec<u8> = self
            .p
            .slots
            .iter()
            .map(|s| s.ty.tag() | if s.optional { OPTIONAL } else { 0 })
            .collect();
        if !specs.is_empty() {
            let table = self.lay.raw(&specs, 1);
            let table_end = table + specs.len() as u32;
            let mut types: Vec<SlotType> = self.p.slots.iter().map(|s| s.ty).collect();
            types.sort_by_key(|t| (*t != SlotType::String, t.tag()));
            types.dedup();
            a.u32c(self.lay.slot(0)).set(entry);
            a.u32c(table).set(spec);
            let exit = a.block(BlockType::Empty);
            let each = a.loop_();
            let next = a.block(BlockType::Empty);
            need(&mut a, pos, end, 1);
            a.get(pos).ld8(0).set(tag);
            advance(&mut a, pos, 1);
            a.get(tag).op(I::I32Eqz);
            a.if_(BlockType::Empty);
            // absent: only an optional slot may be
            a.get(spec).ld8(0).i32c(i32::from(OPTIONAL)).op(I::I32LtU);
            a.if_(BlockType::Empty);
            a.i32c(0).ret();
            a.end();
            a.get(entry).i32c(0).st32(0);
            a.br_to(next);
            a.end();
            a.get(tag)
                .get(spec)
                .ld8(0)
                .i32c(i32::from(!OPTIONAL))
                .op(I::I32And)
                .op(I::I32Ne);
            a.if_(BlockType::Empty);
            a.i32c(0).ret();
            a.end();
            a.get(entry).i32c(1).st32(0);
            for ty in types {
                a.get(tag).i32c(i32::from(ty.tag())).op(I::I32Eq);
                a.if_(BlockType::Empty);
                slot_value(&mut a, ty, [pos, end, entry, len, cnt]);
                a.br_to(next);
                a.end();
            }
            // not reached: the table holds only the program's types
            a.i32c(0).ret();
            a.end(); // next
            advance(&mut a, entry, SLOT_STRIDE as i32);
            advance(&mut a, spec, 1);
            a.get(spec).u32c(table_end).op(I::I32Eq).br_if_to(exit);
            a.br_to(each);
            a.end().end();
        }
        a.get(pos).get(end).op(I::I32Eq);
        Ok(a)
    }
}
