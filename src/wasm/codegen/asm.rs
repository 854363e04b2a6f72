//! A small function-body assembler over wasm-encoder: typed locals, label depth tracking and short opcodes.

use wasm_encoder::{BlockType, Function, Instruction as I, MemArg, ValType};

/// One function body under construction.
pub(crate) struct Asm {
    params: u32,
    locals: Vec<ValType>,
    code: Vec<I<'static>>,
    /// Blocks, loops and ifs currently open.
    depth: u32,
    tmp32: Option<u32>,
    tmp64: Option<u32>,
}

fn mem(offset: u32, align: u32) -> MemArg {
    MemArg {
        offset: u64::from(offset),
        align,
        memory_index: 0,
    }
}

impl Asm {
    pub fn new(params: u32) -> Asm {
        Asm {
            params,
            locals: Vec::new(),
            code: Vec::new(),
            depth: 0,
            tmp32: None,
            tmp64: None,
        }
    }

    /// A fresh local of type `ty`.
    pub fn local(&mut self, ty: ValType) -> u32 {
        self.locals.push(ty);
        self.params + self.locals.len() as u32 - 1
    }

    /// A scratch i32 local, shared: valid only between its set and the next instruction that could
    /// evaluate a sub-expression.
    pub fn tmp32(&mut self) -> u32 {
        match self.tmp32 {
            Some(l) => l,
            None => {
                let l = self.local(ValType::I32);
                self.tmp32 = Some(l);
                l
            }
        }
    }

    /// A scratch i64 local, shared like [`Asm::tmp32`].
    pub fn tmp64(&mut self) -> u32 {
        match self.tmp64 {
            Some(l) => l,
            None => {
                let l = self.local(ValType::I64);
                self.tmp64 = Some(l);
                l
            }
        }
    }

    pub fn op(&mut self, i: I<'static>) -> &mut Self {
        self.code.push(i);
        self
    }

    pub fn i32c(&mut self, v: i32) -> &mut Self {
        self.op(I::I32Const(v))
    }

    /// An address or length as an i32 constant (all addresses are below 2^31).
    pub fn u32c(&mut self, v: u32) -> &mut Self {
        self.op(I::I32Const(v as i32))
    }

    pub fn i64c(&mut self, v: i64) -> &mut Self {
        self.op(I::I64Const(v))
    }

    pub fn get(&mut self, l: u32) -> &mut Self {
        self.op(I::LocalGet(l))
    }

    pub fn set(&mut self, l: u32) -> &mut Self {
        self.op(I::LocalSet(l))
    }

    pub fn tee(&mut self, l: u32) -> &mut Self {
        self.op(I::LocalTee(l))
    }

    pub fn ld8(&mut self, off: u32) -> &mut Self {
        self.op(I::I32Load8U(mem(off, 0)))
    }

    pub fn ld32(&mut self, off: u32) -> &mut Self {
        self.op(I::I32Load(mem(off, 2)))
    }

    pub fn ld64(&mut self, off: u32) -> &mut Self {
        self.op(I::I64Load(mem(off, 3)))
    }

    pub fn st8(&mut self, off: u32) -> &mut Self {
        self.op(I::I32Store8(mem(off, 0)))
    }

    pub fn st32(&mut self, off: u32) -> &mut Self {
        self.op(I::I32Store(mem(off, 2)))
    }

    pub fn st64(&mut self, off: u32) -> &mut Self {
        self.op(I::I64Store(mem(off, 3)))
    }

    /// Loads the i32 at a constant address.
    pub fn load32_at(&mut self, addr: u32) -> &mut Self {
        self.i32c(0).ld32(addr)
    }

    pub fn call(&mut self, f: u32) -> &mut Self {
        self.op(I::Call(f))
    }

    /// Opens a block; returns its level for [`Asm::br_to`].
    pub fn block(&mut self, bt: BlockType) -> u32 {
        self.code.push(I::Block(bt));
        self.depth += 1;
        self.depth
    }

    pub fn loop_(&mut self) -> u32 {
        self.code.push(I::Loop(BlockType::Empty));
        self.depth += 1;
        self.depth
    }

    pub fn if_(&mut self, bt: BlockType) -> u32 {
        self.code.push(I::If(bt));
        self.depth += 1;
        self.depth
    }

    pub fn else_(&mut self) -> &mut Self {
        self.op(I::Else)
    }

    pub fn end(&mut self) -> &mut Self {
        self.depth = self.depth.saturating_sub(1);
        self.op(I::End)
    }

    fn rel(&self, level: u32) -> u32 {
        self.depth.saturating_sub(level)
    }

    /// Branches to the block (or loop) opened at `level`.
    pub fn br_to(&mut self, level: u32) -> &mut Self {
        let r = self.rel(level);
        self.op(I::Br(r))
    }

    pub fn br_if_to(&mut self, level: u32) -> &mut Self {
        let r = self.rel(level);
        self.op(I::BrIf(r))
    }

    pub fn ret(&mut self) -> &mut Self {
        self.op(I::Return)
    }

    /// The finished body.
    pub fn finish(mut self) -> Function {
        self.code.push(I::End);
        let mut f = Function::new_with_locals_types(self.locals.iter().copied());
        for i in &self.code {
            f.instruction(i);
        }
        f
    }
}
