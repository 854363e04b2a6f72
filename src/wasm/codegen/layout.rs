//! Linear-memory layout: fixed scratch areas sized from the program, then one data segment of
//! interned strings, sorted entity tables and string hash tables (see the module doc of `codegen` for the map).

use std::collections::HashMap;

use crate::ir::entities::Related;
use crate::ir::{Program, Target, TemplatePart};

/// Bytes the host may write into the input buffer (DESIGN §3 `input_capacity`).
pub const INPUT_CAPACITY: u32 = 65536;
/// Bytes per decoded slot in the slot table.
pub const SLOT_STRIDE: u32 = 16;
const PAGE: u32 = 65536;

/// Addresses of the scratch areas and the data segment.
#[derive(Debug)]
pub(crate) struct Layout {
    /// Slot table: per slot `i32 tag` (0 absent), `i32 ptr`, `i64 len|count|int|bool`.
    pub slots: u32,
    /// Decoded params of the matched route: `(ptr, len)` per param.
    pub params: u32,
    /// Path segments: `(ptr, len)` for the first `seg_cap` segments.
    pub segs: u32,
    pub seg_cap: u32,
    /// The input buffer.
    pub input: u32,
    /// Percent-decoded param bytes.
    pub pbuf: u32,
    /// The templated target name being built.
    pub tbuf: u32,
    /// Start of the data segment.
    pub data: u32,
    bytes: Vec<u8>,
    strs: HashMap<Vec<u8>, u32>,
    /// String tables laid out so far, by their entries (routes often share one).
    tables: HashMap<Vec<(String, u32)>, (u32, u32)>,
}

fn align(x: u32, a: u32) -> u32 {
    x.div_ceil(a).saturating_mul(a)
}

/// The most bytes a templated target name can take.
fn template_cap(parts: &[TemplatePart]) -> u32 {
    parts
        .iter()
        .map(|p| match p {
            TemplatePart::Lit(s) => s.len() as u32,
            TemplatePart::Param(_) => INPUT_CAPACITY,
        })
        .fold(0u32, u32::saturating_add)
}

impl Layout {
    pub fn new(p: &Program) -> Layout {
        let nslots = p.slots.len() as u32;
        let max_params = p.routes.iter().map(|r| r.params.len()).max().unwrap_or(0) as u32;
        let max_segs = p.routes.iter().map(|r| r.segments.len()).max().unwrap_or(0) as u32;
        let tcap = p
            .routes
            .iter()
            .filter_map(|r| match &r.target {
                Some(Target::Template { parts, .. }) => Some(template_cap(parts)),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let slots = 16;
        let params = slots + nslots * SLOT_STRIDE;
        let segs = params + max_params * 8;
        let seg_cap = max_segs + 1;
        let input = align(segs + seg_cap * 8, 16);
        let pbuf = input + INPUT_CAPACITY;
        let tbuf = pbuf + if max_params > 0 { INPUT_CAPACITY } else { 0 };
        let data = align(tbuf.saturating_add(tcap), 16);
        Layout {
            slots,
            params,
            segs,
            seg_cap,
            input,
            pbuf,
            tbuf,
            data,
            bytes: Vec::new(),
            strs: HashMap::new(),
            tables: HashMap::new(),
        }
    }

    /// The address of slot `k`'s entry in the slot table.
    pub fn slot(&self, k: u32) -> u32 {
        self.slots + k * SLOT_STRIDE
    }

    fn here(&self) -> u32 {
        self.data + self.bytes.len() as u32
    }

    fn pad(&mut self, a: usize) {
        while !self.bytes.len().is_multiple_of(a) {
            self.bytes.push(0);
        }
    }

    /// Interns a string as `u32 len` + bytes; returns the address of the length.
    pub fn string(&mut self, s: &[u8]) -> u32 {
        if let Some(&a) = self.strs.get(s) {
            return a;
        }
        self.pad(4);
        let a = self.here();
        self.bytes
            .extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(s);
        self.strs.insert(s.to_vec(), a);
        a
    }

    /// Interns a string; returns `(address of its bytes, length)`.
    pub fn str_bytes(&mut self, s: &[u8]) -> (u32, u32) {
        let a = self.string(s);
        (a + 4, s.len() as u32)
    }

    /// Raw bytes at the given alignment; returns their address.
    pub fn raw(&mut self, b: &[u8], al: usize) -> u32 {
        self.pad(al);
        let a = self.here();
        self.bytes.extend_from_slice(b);
        a
    }

    /// A set of strings in the input encoding (`u32 len` + bytes each); returns `(address, count)`.
    pub fn set(&mut self, items: &[String]) -> (u32, u32) {
        let mut b = Vec::new();
        for s in items {
            b.extend_from_slice(&(s.len() as u32).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        }
        (self.raw(&b, 4), items.len() as u32)
    }

    /// A sorted table of u64 words; returns `(address, count)`.
    pub fn words(&mut self, mut w: Vec<u64>) -> (u32, u32) {
        w.sort_unstable();
        w.dedup();
        let b: Vec<u8> = w.iter().flat_map(|x| x.to_le_bytes()).collect();
        (self.raw(&b, 8), w.len() as u32)
    }

    /// A string-keyed hash table for the module's `LookupStr`: a power of two of slots
    /// `[key address, entity]` (keys as [`Self::string`] interns them), at most two-thirds
    /// full, placed by [`key_hash`] with linear probing; an empty slot's entity is `u32::MAX`.
    /// A key listed twice keeps its first entity; equal tables are laid out once. Returns
    /// `(address, slot count - 1)`.
    pub fn string_table(&mut self, entries: &[(&str, u32)]) -> (u32, u32) {
        let mut sorted: Vec<(&str, u32)> = entries.to_vec();
        sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        sorted.dedup_by(|a, b| a.0 == b.0);
        let key: Vec<(String, u32)> = sorted.iter().map(|&(k, e)| (k.to_owned(), e)).collect();
        if let Some(&laid) = self.tables.get(&key) {
            return laid;
        }
        let size = (sorted.len() + sorted.len() / 2 + 1).next_power_of_two();
        let mut slots = vec![(0u32, u32::MAX); size];
        for &(key, entity) in &sorted {
            let hash = key_hash(key.as_bytes());
            let address = self.string(key.as_bytes());
            let mut i = hash as usize & (size - 1);
            while slots.get(i).is_some_and(|s| s.1 != u32::MAX) {
                i = (i + 1) & (size - 1);
            }
            if let Some(s) = slots.get_mut(i) {
                *s = (address, entity);
            }
        }
        let b: Vec<u8> = slots
            .iter()
            .flat_map(|&(k, e)| [k, e])
            .flat_map(u32::to_le_bytes)
            .collect();
        let laid = (self.raw(&b, 4), (size - 1) as u32);
        self.tables.insert(key, laid);
        laid
    }

    /// The data segment's bytes.
    pub fn data_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Memory pages needed to hold every area, with eight bytes to spare after the last (so that
    /// a word read at any byte of an area stays in memory).
    pub fn pages(&self) -> u64 {
        u64::from((self.here() + 8).div_ceil(PAGE).max(1))
    }
}

/// The multiplier of [`key_hash`] (and of the module's lookup, which computes the same hash).
pub(crate) const KEY_MUL: u64 = 0x9e37_79b9_7f4a_7c15;
/// The rotation of [`key_hash`] after each multiplication.
pub(crate) const KEY_ROT: i64 = 29;

/// The hash of a string-table key: its length plus one times [`KEY_MUL`], then each eight bytes
/// (little-endian, the last zero-padded) mixed in by xor, multiplication and rotation; the high
/// half folded onto the low.
pub(crate) fn key_hash(key: &[u8]) -> u32 {
    let mut h = (key.len() as u64).wrapping_add(1).wrapping_mul(KEY_MUL);
    for chunk in key.chunks(8) {
        let mut w = [0u8; 8];
        w.iter_mut().zip(chunk).for_each(|(w, &c)| *w = c);
        h = (h ^ u64::from_le_bytes(w))
            .wrapping_mul(KEY_MUL)
            .rotate_left(KEY_ROT as u32);
    }
    (h ^ (h >> 32)) as u32
}

/// Key words of a relation: `(from << 32) | to`.
pub(crate) fn pair(from: u32, to: u32) -> u64 {
    (u64::from(from) << 32) | u64::from(to)
}

/// The `To` targets of a relation, as pair words.
pub(crate) fn relation_words<'a>(rels: impl Iterator<Item = (u32, &'a Related)>) -> Vec<u64> {
    rels.filter_map(|(i, r)| match r {
        Related::To(t) => Some(pair(i, t.0)),
        Related::Absent | Related::Dangling => None,
    })
    .collect()
}
