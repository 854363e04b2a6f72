//! The runtime helpers the generated code calls (string compare, glob, binary searches, path
//! splitting, percent-decoding), each emitted once and only when used.

use wasm_encoder::{BlockType, Instruction as I, ValType};

use super::asm::Asm;
use super::layout::{KEY_MUL, KEY_ROT};
use super::{CodegenError, Gen};

const I32: ValType = ValType::I32;
const I64: ValType = ValType::I64;

/// A helper function of the generated module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Helper {
    /// `(a, al, b, bl) -> i32`: byte equality.
    Eq,
    /// `(a, al, b, bl, fold) -> i32`: equality, bytes of `a` ASCII-lowercased when `fold`.
    EqCi,
    /// `(h, hl, n, nl) -> i32`
    Contains,
    StartsWith,
    EndsWith,
    /// `(s, sl, p, pl) -> i32`: whole-string glob.
    Glob,
    /// `(s, i, n) -> i32`: the index after the UTF-8 sequence at `i`.
    NextChar,
    /// `(set, count, s, sl) -> i32`
    SetHas,
    /// `(ip, net, prefix) -> i32`
    IpIn,
    /// `(table, n, key) -> i64`: the word whose high half is `key`, or -1.
    Find,
    /// `(table, n, key: i64) -> i32`
    HasPair,
    /// `(table, mask, s, sl, fold) -> i32`: the entity of a hashed string-keyed table
    /// ([`super::layout::Layout::string_table`]), or -1.
    LookupStr,
    /// `(c) -> i32`: hex digit value or -1.
    Hex,
    /// `(src, len, dst) -> i32`: percent-decodes, returns the decoded length.
    PctDecode,
    /// `(segment entry, param entry, dst) -> i32`: decodes one param into `dst`, records it,
    /// returns the next free byte.
    Param,
    /// `(p, n) -> i32`: splits the path into the segment table, returns the segment count.
    Split,
    /// `(who, owned) -> i32`: Backstage `isEntityOwner`.
    Owns,
    /// `() -> i32`: the principal, bound on its first use in a decision (-1: unbound).
    Principal,
}

impl Helper {
    pub fn sig(self) -> (&'static [ValType], &'static [ValType]) {
        match self {
            Helper::Eq | Helper::Contains | Helper::StartsWith | Helper::EndsWith => {
                (&[I32, I32, I32, I32], &[I32])
            }
            Helper::Glob | Helper::SetHas => (&[I32, I32, I32, I32], &[I32]),
            Helper::EqCi => (&[I32, I32, I32, I32, I32], &[I32]),
            Helper::NextChar | Helper::IpIn | Helper::PctDecode | Helper::Param => {
                (&[I32, I32, I32], &[I32])
            }
            Helper::Find => (&[I32, I32, I32], &[I64]),
            Helper::HasPair => (&[I32, I32, I64], &[I32]),
            Helper::LookupStr => (&[I32, I32, I32, I32, I32], &[I32]),
            Helper::Hex => (&[I32], &[I32]),
            Helper::Split => (&[I32, I32], &[I32]),
            Helper::Owns => (&[I32, I32], &[I32]),
            Helper::Principal => (&[], &[I32]),
        }
    }
}

/// `local += by`
fn bump(a: &mut Asm, l: u32, by: i32) {
    a.get(l).i32c(by).op(I::I32Add).set(l);
}

/// `if <cond on stack> { return v }`
fn ret_if(a: &mut Asm, v: i32) {
    a.if_(BlockType::Empty);
    a.i32c(v).ret();
    a.end();
}

/// Emits the body of `h`.
pub(crate) fn body(g: &mut Gen, h: Helper) -> Result<Asm, CodegenError> {
    let n = h.sig().0.len() as u32;
    let mut a = Asm::new(n);
    match h {
        Helper::Principal => return g.principal_body(),
        Helper::Eq => {
            let (pa, al, pb, bl) = (0, 1, 2, 3);
            a.get(al).get(bl).op(I::I32Ne);
            ret_if(&mut a, 0);
            let done = a.block(BlockType::Empty);
            let l = a.loop_();
            a.get(al).i32c(8).op(I::I32LtU).br_if_to(done);
            a.get(pa).ld64(0).get(pb).ld64(0).op(I::I64Ne);
            ret_if(&mut a, 0);
            bump(&mut a, pa, 8);
            bump(&mut a, pb, 8);
            bump(&mut a, al, -8);
            a.br_to(l).end().end();
            // The last 0..7 bytes as one word each, the bytes past the end masked off (a word
            // read at any byte of an area stays in memory).
            a.get(al).op(I::I32Eqz);
            ret_if(&mut a, 1);
            a.get(pa).ld64(0).get(pb).ld64(0).op(I::I64Xor);
            tail_mask(&mut a, al);
            a.op(I::I64And).op(I::I64Eqz);
        }
        Helper::EqCi => {
            let (pa, al, pb, bl, fold) = (0, 1, 2, 3, 4);
            let (wa, h) = (a.local(I64), a.local(I64));
            a.get(al).get(bl).op(I::I32Ne);
            ret_if(&mut a, 0);
            let done = a.block(BlockType::Empty);
            let l = a.loop_();
            a.get(al).i32c(8).op(I::I32LtU).br_if_to(done);
            a.get(pa).ld64(0).set(wa);
            fold_if(&mut a, fold, wa, h);
            a.get(wa).get(pb).ld64(0).op(I::I64Ne);
            ret_if(&mut a, 0);
            bump(&mut a, pa, 8);
            bump(&mut a, pb, 8);
            bump(&mut a, al, -8);
            a.br_to(l).end().end();
            a.get(al).op(I::I32Eqz);
            ret_if(&mut a, 1);
            a.get(pa).ld64(0);
            tail_mask(&mut a, al);
            a.op(I::I64And).set(wa);
            fold_if(&mut a, fold, wa, h);
            // `wa` is masked already and folding keeps zero bytes zero
            a.get(wa).get(pb).ld64(0);
            tail_mask(&mut a, al);
            a.op(I::I64And).op(I::I64Eq);
        }
        Helper::Contains => {
            let eq = g.helper(Helper::Eq)?;
            let (h, hl, nd, nl) = (0, 1, 2, 3);
            let last = a.local(I32);
            a.get(nl).get(hl).op(I::I32GtU);
            ret_if(&mut a, 0);
            a.get(h)
                .get(hl)
                .op(I::I32Add)
                .get(nl)
                .op(I::I32Sub)
                .set(last);
            let l = a.loop_();
            a.get(h).get(nl).get(nd).get(nl).call(eq);
            ret_if(&mut a, 1);
            a.get(h).get(last).op(I::I32Eq);
            ret_if(&mut a, 0);
            bump(&mut a, h, 1);
            a.br_to(l).end();
            a.i32c(0);
        }
        Helper::StartsWith | Helper::EndsWith => {
            let eq = g.helper(Helper::Eq)?;
            let (s, sl, p, pl) = (0, 1, 2, 3);
            a.get(pl).get(sl).op(I::I32GtU);
            ret_if(&mut a, 0);
            a.get(s);
            if h == Helper::EndsWith {
                a.get(sl).op(I::I32Add).get(pl).op(I::I32Sub);
            }
            a.get(pl).get(p).get(pl).call(eq);
        }
        Helper::NextChar => {
            let (s, i, n) = (0, 1, 2);
            bump(&mut a, i, 1);
            let done = a.block(BlockType::Empty);
            let l = a.loop_();
            a.get(i).get(n).op(I::I32GeU).br_if_to(done);
            a.get(s)
                .get(i)
                .op(I::I32Add)
                .ld8(0)
                .i32c(0xC0)
                .op(I::I32And);
            a.i32c(0x80).op(I::I32Ne).br_if_to(done);
            bump(&mut a, i, 1);
            a.br_to(l).end().end();
            a.get(i);
        }
        Helper::Glob => glob(g, &mut a)?,
        Helper::SetHas => {
            let eq = g.helper(Helper::Eq)?;
            let (set, count, s, sl) = (0, 1, 2, 3);
            let len = a.local(I32);
            let l = a.loop_();
            a.get(count).op(I::I32Eqz);
            ret_if(&mut a, 0);
            a.get(set).ld32(0).set(len);
            a.get(set)
                .i32c(4)
                .op(I::I32Add)
                .get(len)
                .get(s)
                .get(sl)
                .call(eq);
            ret_if(&mut a, 1);
            a.get(set)
                .i32c(4)
                .op(I::I32Add)
                .get(len)
                .op(I::I32Add)
                .set(set);
            bump(&mut a, count, -1);
            a.br_to(l).end();
            a.i32c(0);
        }
        Helper::IpIn => {
            let (ip, net, prefix) = (0, 1, 2);
            let (i, x) = (a.local(I32), a.local(I32));
            let l = a.loop_();
            a.get(prefix).i32c(0).op(I::I32LeS);
            ret_if(&mut a, 1);
            a.get(i).i32c(16).op(I::I32GeU);
            ret_if(&mut a, 1);
            a.get(ip).get(i).op(I::I32Add).ld8(0);
            a.get(net).get(i).op(I::I32Add).ld8(0).op(I::I32Xor).set(x);
            a.get(prefix).i32c(8).op(I::I32LtS);
            a.if_(BlockType::Empty);
            a.get(x)
                .i32c(0xFF)
                .i32c(8)
                .get(prefix)
                .op(I::I32Sub)
                .op(I::I32Shl);
            a.op(I::I32And).set(x);
            a.end();
            a.get(x);
            ret_if(&mut a, 0);
            bump(&mut a, prefix, -8);
            bump(&mut a, i, 1);
            a.br_to(l).end();
            a.i32c(1);
        }
        Helper::Find | Helper::HasPair => {
            let (tab, n, key) = (0, 1, 2);
            let (lo, mid, e) = (a.local(I32), a.local(I32), a.local(I64));
            let l = a.loop_();
            a.get(lo).get(n).op(I::I32GeU);
            a.if_(BlockType::Empty);
            if h == Helper::Find {
                a.i64c(-1).ret();
            } else {
                a.i32c(0).ret();
            }
            a.end();
            a.get(lo)
                .get(n)
                .op(I::I32Add)
                .i32c(1)
                .op(I::I32ShrU)
                .set(mid);
            a.get(tab)
                .get(mid)
                .i32c(3)
                .op(I::I32Shl)
                .op(I::I32Add)
                .ld64(0)
                .set(e);
            if h == Helper::Find {
                let k = a.local(I32);
                a.get(e).i64c(32).op(I::I64ShrU).op(I::I32WrapI64).tee(k);
                a.get(key).op(I::I32Eq);
                a.if_(BlockType::Empty);
                a.get(e).ret();
                a.end();
                a.get(k).get(key).op(I::I32LtU);
            } else {
                a.get(e).get(key).op(I::I64Eq);
                ret_if(&mut a, 1);
                a.get(e).get(key).op(I::I64LtU);
            }
            a.if_(BlockType::Empty);
            a.get(mid).i32c(1).op(I::I32Add).set(lo);
            a.else_();
            a.get(mid).set(n);
            a.end();
            a.br_to(l).end();
            if h == Helper::Find {
                a.i64c(-1);
            } else {
                a.i32c(0);
            }
        }
        Helper::LookupStr => {
            // The key's hash as `layout::key_hash` computes it at build time (on the folded key
            // when `fold`), then linear probing from its slot to the key or an empty slot; the
            // table is never full.
            let eq = g.helper(Helper::EqCi)?;
            let (tab, mask, s, sl, fold) = (0, 1, 2, 3, 4);
            let (h, w, t) = (a.local(I64), a.local(I64), a.local(I64));
            let (i, e, slot) = (a.local(I32), a.local(I32), a.local(I32));
            let mix = |a: &mut Asm| {
                a.get(h)
                    .get(w)
                    .op(I::I64Xor)
                    .i64c(KEY_MUL as i64)
                    .op(I::I64Mul)
                    .i64c(KEY_ROT)
                    .op(I::I64Rotl)
                    .set(h);
            };
            a.get(sl)
                .op(I::I64ExtendI32U)
                .i64c(1)
                .op(I::I64Add)
                .i64c(KEY_MUL as i64)
                .op(I::I64Mul)
                .set(h);
            let done = a.block(BlockType::Empty);
            let l = a.loop_();
            a.get(sl)
                .get(i)
                .op(I::I32Sub)
                .i32c(8)
                .op(I::I32LtU)
                .br_if_to(done);
            a.get(s).get(i).op(I::I32Add).ld64(0).set(w);
            fold_if(&mut a, fold, w, t);
            mix(&mut a);
            bump(&mut a, i, 8);
            a.br_to(l).end().end();
            a.get(sl).get(i).op(I::I32Sub).set(e);
            a.get(e);
            a.if_(BlockType::Empty);
            a.get(s).get(i).op(I::I32Add).ld64(0);
            tail_mask(&mut a, e);
            a.op(I::I64And).set(w);
            fold_if(&mut a, fold, w, t);
            mix(&mut a);
            a.end();
            // i = hash (low half of h ^ h >> 32) & mask
            a.get(h)
                .get(h)
                .i64c(32)
                .op(I::I64ShrU)
                .op(I::I64Xor)
                .op(I::I32WrapI64)
                .get(mask)
                .op(I::I32And)
                .set(i);
            let l = a.loop_();
            // slot i: [key address, entity] at tab + 8 i
            a.get(tab)
                .get(i)
                .i32c(3)
                .op(I::I32Shl)
                .op(I::I32Add)
                .tee(slot)
                .ld32(4)
                .i32c(-1)
                .op(I::I32Eq);
            ret_if(&mut a, -1);
            a.get(s)
                .get(sl)
                .get(slot)
                .ld32(0)
                .i32c(4)
                .op(I::I32Add)
                .get(slot)
                .ld32(0)
                .ld32(0)
                .get(fold)
                .call(eq);
            a.if_(BlockType::Empty);
            a.get(slot).ld32(4).ret();
            a.end();
            a.get(i)
                .i32c(1)
                .op(I::I32Add)
                .get(mask)
                .op(I::I32And)
                .set(i);
            a.br_to(l).end();
            a.i32c(-1);
        }
        Helper::Hex => {
            let (c, d) = (0, a.local(I32));
            a.get(c)
                .i32c(48)
                .op(I::I32Sub)
                .tee(d)
                .i32c(10)
                .op(I::I32LtU);
            a.if_(BlockType::Empty);
            a.get(d).ret();
            a.end();
            a.get(c).i32c(32).op(I::I32Or).i32c(97).op(I::I32Sub).tee(d);
            a.i32c(6).op(I::I32LtU);
            a.if_(BlockType::Empty);
            a.get(d).i32c(10).op(I::I32Add).ret();
            a.end();
            a.i32c(-1);
        }
        Helper::PctDecode => {
            let hex = g.helper(Helper::Hex)?;
            let (src, len, dst) = (0, 1, 2);
            let (end, o, c, h1, h2) = (
                a.local(I32),
                a.local(I32),
                a.local(I32),
                a.local(I32),
                a.local(I32),
            );
            a.get(src).get(len).op(I::I32Add).set(end);
            a.get(dst).set(o);
            let w = a.local(I64);
            let done = a.block(BlockType::Empty);
            let l = a.loop_();
            a.get(src).get(end).op(I::I32GeU).br_if_to(done);
            // Eight bytes without a `%` are copied as one word.
            a.get(end).get(src).op(I::I32Sub).i32c(8).op(I::I32GeU);
            a.if_(BlockType::Empty);
            a.get(src).ld64(0).set(w);
            has_byte(&mut a, w, b'%');
            a.op(I::I64Eqz);
            a.if_(BlockType::Empty);
            a.get(o).get(w).st64(0);
            bump(&mut a, o, 8);
            bump(&mut a, src, 8);
            a.br_to(l);
            a.end();
            a.end();
            a.get(src).ld8(0).set(c);
            a.get(c).i32c(37).op(I::I32Eq);
            a.get(end)
                .get(src)
                .op(I::I32Sub)
                .i32c(3)
                .op(I::I32GeU)
                .op(I::I32And);
            a.if_(BlockType::Empty);
            a.get(src).ld8(1).call(hex).set(h1);
            a.get(src).ld8(2).call(hex).set(h2);
            a.get(h1).get(h2).op(I::I32Or).i32c(0).op(I::I32GeS);
            a.if_(BlockType::Empty);
            a.get(o)
                .get(h1)
                .i32c(4)
                .op(I::I32Shl)
                .get(h2)
                .op(I::I32Or)
                .st8(0);
            bump(&mut a, o, 1);
            bump(&mut a, src, 3);
            a.br_to(l);
            a.end();
            a.end();
            a.get(o).get(c).st8(0);
            bump(&mut a, o, 1);
            bump(&mut a, src, 1);
            a.br_to(l).end().end();
            a.get(o).get(dst).op(I::I32Sub);
        }
        Helper::Param => {
            let pct = g.helper(Helper::PctDecode)?;
            let (seg, param, dst) = (0, 1, 2);
            let n = a.local(I32);
            a.get(seg)
                .ld32(0)
                .get(seg)
                .ld32(4)
                .get(dst)
                .call(pct)
                .set(n);
            a.get(param).get(dst).st32(0);
            a.get(param).get(n).st32(4);
            a.get(dst).get(n).op(I::I32Add);
        }
        Helper::Split => {
            let (segs, cap) = (g.lay.segs, g.lay.seg_cap);
            let (p, n) = (0, 1);
            let (end, count, start) = (a.local(I32), a.local(I32), a.local(I32));
            a.get(p).get(n).op(I::I32Add).set(end);
            a.get(n);
            a.if_(BlockType::Empty);
            a.get(p).ld8(0).i32c(47).op(I::I32Eq);
            a.if_(BlockType::Empty);
            bump(&mut a, p, 1);
            a.end();
            a.end();
            a.get(p).get(end).op(I::I32Eq);
            ret_if(&mut a, 0);
            a.get(p).set(start);
            let (w, cut, idx) = (a.local(I64), a.local(I32), a.local(I32));
            // Records the segment `start..cut`, counted even past the table's capacity.
            let record = |a: &mut Asm| {
                a.get(count).u32c(cap).op(I::I32LtU);
                a.if_(BlockType::Empty);
                a.get(count).i32c(3).op(I::I32Shl).get(start).st32(segs);
                a.get(count)
                    .i32c(3)
                    .op(I::I32Shl)
                    .get(cut)
                    .get(start)
                    .op(I::I32Sub);
                a.st32(segs + 4);
                a.end();
                bump(a, count, 1);
            };
            let l = a.loop_();
            // The first `/` among the next eight bytes (8 when there is none: the lowest byte the
            // zero-byte test marks is exact); one at or past the end is none.
            a.get(p).ld64(0).set(w);
            has_byte(&mut a, w, b'/');
            a.op(I::I64Ctz)
                .i64c(3)
                .op(I::I64ShrU)
                .op(I::I32WrapI64)
                .tee(idx)
                .get(end)
                .get(p)
                .op(I::I32Sub)
                .op(I::I32GeU);
            a.if_(BlockType::Empty);
            a.get(end).set(cut);
            record(&mut a);
            a.get(count).ret();
            a.end();
            a.get(idx).i32c(8).op(I::I32Eq);
            a.if_(BlockType::Empty);
            bump(&mut a, p, 8);
            a.br_to(l);
            a.end();
            a.get(p).get(idx).op(I::I32Add).set(cut);
            record(&mut a);
            a.get(cut).i32c(1).op(I::I32Add).tee(p).set(start);
            a.br_to(l).end();
            a.i32c(0);
        }
        Helper::Owns => {
            let (who, owned) = (0, 1);
            let (otab, on) = g.owner_table(crate::ir::Rel::Owner);
            let (dtab, dn) = g.direct_groups_table();
            if on == 0 {
                a.i32c(0);
            } else {
                let find = g.helper(Helper::Find)?;
                let (e, ow) = (a.local(I64), a.local(I32));
                a.u32c(otab)
                    .u32c(on)
                    .get(owned)
                    .call(find)
                    .tee(e)
                    .i64c(-1)
                    .op(I::I64Eq);
                ret_if(&mut a, 0);
                a.get(e).op(I::I32WrapI64).tee(ow).get(who).op(I::I32Eq);
                ret_if(&mut a, 1);
                if dn == 0 {
                    a.i32c(0);
                } else {
                    let has = g.helper(Helper::HasPair)?;
                    a.u32c(dtab).u32c(dn);
                    a.get(who).op(I::I64ExtendI32U).i64c(32).op(I::I64Shl);
                    a.get(ow).op(I::I64ExtendI32U).op(I::I64Or).call(has);
                }
            }
        }
    }
    Ok(a)
}

/// The glob matcher: greedy with backtracking to the last `*`; `?` takes one UTF-8 sequence.
/// Leaves a non-zero `i64` when one of the eight bytes in local `w` is `byte`, zero otherwise
/// (exactly: the classic zero-byte test on `w ^ byte × 0x0101…`).
fn has_byte(a: &mut Asm, w: u32, byte: u8) {
    const ONES: i64 = 0x0101_0101_0101_0101;
    const HIGH: i64 = 0x8080_8080_8080_8080_u64 as i64;
    let pattern = ONES.wrapping_mul(i64::from(byte));
    a.get(w)
        .i64c(pattern)
        .op(I::I64Xor)
        .i64c(ONES)
        .op(I::I64Sub);
    a.get(w)
        .i64c(pattern)
        .op(I::I64Xor)
        .i64c(-1)
        .op(I::I64Xor)
        .op(I::I64And);
    a.i64c(HIGH).op(I::I64And);
}

/// Leaves the `i64` mask of the low `n` bytes of a word, `n` (an `i32` local) in 1..=7.
fn tail_mask(a: &mut Asm, n: u32) {
    a.i64c(1)
        .get(n)
        .op(I::I64ExtendI32U)
        .i64c(3)
        .op(I::I64Shl)
        .op(I::I64Shl)
        .i64c(1)
        .op(I::I64Sub);
}

/// [`fold_word`] when the `i32` local `fold` is non-zero.
fn fold_if(a: &mut Asm, fold: u32, w: u32, h: u32) {
    a.get(fold);
    a.if_(BlockType::Empty);
    fold_word(a, w, h);
    a.end();
}

/// ASCII-lowercases the eight bytes in local `w` (bytes `A`..=`Z` gain `0x20`, every other byte,
/// non-ASCII included, is left alone), using `h` as scratch.
fn fold_word(a: &mut Asm, w: u32, h: u32) {
    const LOW7: i64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: i64 = 0x8080_8080_8080_8080_u64 as i64;
    // Per byte, with its high bit cleared: + 0x3f sets bit 7 from 'A' up, + 0x25 from '[' up.
    a.get(w).i64c(LOW7).op(I::I64And).set(h);
    a.get(h).i64c(0x3f3f_3f3f_3f3f_3f3f).op(I::I64Add);
    a.get(h)
        .i64c(0x2525_2525_2525_2525)
        .op(I::I64Add)
        .i64c(-1)
        .op(I::I64Xor)
        .op(I::I64And);
    // Only bytes whose own high bit is clear, then bit 7 moved to bit 5.
    a.get(w).i64c(-1).op(I::I64Xor).op(I::I64And);
    a.i64c(HIGH).op(I::I64And).i64c(2).op(I::I64ShrU);
    a.get(w).op(I::I64Or).set(w);
}

fn glob(g: &mut Gen, a: &mut Asm) -> Result<(), CodegenError> {
    let next = g.helper(Helper::NextChar)?;
    let (s, sl, p, pl) = (0, 1, 2, 3);
    let (si, pi, sp, ss, c) = (
        a.local(I32),
        a.local(I32),
        a.local(I32),
        a.local(I32),
        a.local(I32),
    );
    a.i32c(-1).set(sp);
    let top = a.loop_();
    let mismatch = a.block(BlockType::Empty);
    a.get(pi).get(pl).op(I::I32LtU);
    a.if_(BlockType::Empty);
    {
        a.get(p)
            .get(pi)
            .op(I::I32Add)
            .ld8(0)
            .tee(c)
            .i32c(42)
            .op(I::I32Eq);
        a.if_(BlockType::Empty);
        a.get(pi).set(sp);
        bump(a, pi, 1);
        a.get(si).set(ss);
        a.br_to(top);
        a.end();
        a.get(si).get(sl).op(I::I32GeU).br_if_to(mismatch);
        a.get(c).i32c(63).op(I::I32Eq);
        a.if_(BlockType::Empty);
        a.get(s).get(si).get(sl).call(next).set(si);
        bump(a, pi, 1);
        a.br_to(top);
        a.end();
        a.get(c).get(s).get(si).op(I::I32Add).ld8(0).op(I::I32Eq);
        a.if_(BlockType::Empty);
        bump(a, si, 1);
        bump(a, pi, 1);
        a.br_to(top);
        a.end();
    }
    a.else_();
    a.get(si).get(sl).op(I::I32Eq);
    ret_if(a, 1);
    a.end();
    a.end(); // mismatch
    a.get(sp).i32c(0).op(I::I32GeS);
    a.get(ss).get(sl).op(I::I32LtU).op(I::I32And);
    a.if_(BlockType::Empty);
    a.get(s).get(ss).get(sl).call(next).tee(ss).set(si);
    a.get(sp).i32c(1).op(I::I32Add).set(pi);
    a.br_to(top);
    a.end();
    a.end(); // loop
    a.i32c(0);
    Ok(())
}
