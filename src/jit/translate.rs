//! Translation of one IR function into Cranelift IR.
//!
//! The generated function has the C signature `fn(args: *const f64, out: *mut f64)`: it loads
//! its arguments, evaluates the straight-line code (one `translate_*` per IR construct) and
//! stores the outputs. Transcendentals and helpers are calls into `jit::runtime`.

use crate::ir::{BinaryOp, Function, Op, SurrogateFn, UnaryOp, Value as IrValue};
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{
    AbiParam, FuncRef, InstBuilder, MemFlagsData, StackSlotData, StackSlotKind, Value, types,
};
use cranelift_frontend::FunctionBuilder;
use std::collections::HashMap;

/// A population kernel keeps a pointer per strided argument and output in its loop when it has
/// at most this many of them (they then fit in the integer registers).
const MAX_CARRIED: usize = 10;

/// Imported runtime functions, by symbol name, as references inside the function being built.
pub struct Imports {
    pub funcs: HashMap<&'static str, FuncRef>,
    pub dd_exp: FuncRef,
    pub expm: FuncRef,
}

pub struct FunctionTranslator<'a, 'b> {
    pub b: &'a mut FunctionBuilder<'b>,
    pub imports: &'a Imports,
    pub ptr: types::Type,
    /// The Cranelift value of every IR value.
    values: Vec<Value>,
}

impl<'a, 'b> FunctionTranslator<'a, 'b> {
    pub fn new(b: &'a mut FunctionBuilder<'b>, imports: &'a Imports, ptr: types::Type) -> Self {
        FunctionTranslator {
            b,
            imports,
            ptr,
            values: Vec::new(),
        }
    }

    fn v(&self, x: IrValue) -> Value {
        self.values[x.index()]
    }

    fn call(&mut self, name: &str, args: &[Value]) -> Value {
        let f = self.imports.funcs[name];
        let inst = self.b.ins().call(f, args);
        self.b.inst_results(inst)[0]
    }

    fn bool_to_f64(&mut self, cond: Value) -> Value {
        let one = self.b.ins().f64const(1.0);
        let zero = self.b.ins().f64const(0.0);
        self.b.ins().select(cond, one, zero)
    }

    fn nonzero(&mut self, x: Value) -> Value {
        let zero = self.b.ins().f64const(0.0);
        self.b.ins().fcmp(FloatCC::NotEqual, x, zero)
    }

    /// Emits the whole body: `args` and `out` are the two pointer parameters.
    pub fn translate_function(&mut self, f: &Function, args: Value, out: Value) {
        self.translate_body(f, &mut |b, n| {
            b.ins()
                .load(types::F64, MemFlagsData::trusted(), args, (n as i32) * 8)
        });
        for (k, (_, v)) in f.outputs.iter().enumerate() {
            let val = self.v(*v);
            self.b
                .ins()
                .store(MemFlagsData::trusted(), val, out, (k as i32) * 8);
        }
        self.b.ins().return_(&[]);
    }

    /// A population kernel: `fn(arg_ptrs, arg_strides, out_ptrs, out_strides, count)` runs the
    /// function for elements `0..count`, argument `j` of element `i` read at
    /// `arg_ptrs[j] + i * arg_strides[j]` (stride 0 broadcasts) and outputs written likewise.
    /// An argument marked `uniform` is read once, at `arg_ptrs[j]`, before the loop. The first
    /// `row` arguments, and likewise the first `row` outputs, are one element's consecutive
    /// values (a neuron's states, neuron-major): they are reached from the first one's pointer
    /// and stride (the others' are not read), so one pointer serves the whole row.
    pub fn translate_population(
        &mut self,
        f: &Function,
        params: [Value; 5],
        uniform: &[bool],
        row: usize,
    ) {
        let [arg_ptrs, arg_strides, out_ptrs, out_strides, count] = params;
        let flags = MemFlagsData::trusted();
        let load_ptr = |b: &mut FunctionBuilder, base: Value, j: usize| {
            b.ins().load(self.ptr, flags, base, (j * 8) as i32)
        };
        let nargs = f.args.len();
        let nout = f.outputs.len();
        let a_ptr: Vec<Value> = (0..nargs).map(|j| load_ptr(self.b, arg_ptrs, j)).collect();
        let once: Vec<Option<Value>> = (0..nargs)
            .map(|j| uniform[j].then(|| self.b.ins().load(types::F64, flags, a_ptr[j], 0)))
            .collect();
        // The streams (base, stride): the strided arguments, then the outputs, where a row
        // counts once. `at[..]` places each argument, then each output, in a stream with a
        // byte offset.
        let mut streams: Vec<(Value, Value)> = Vec::new();
        let mut at: Vec<(usize, i32)> = Vec::with_capacity(nargs + nout);
        for (is_arg, strides, len) in [(true, arg_strides, nargs), (false, out_strides, nout)] {
            let first = at.len();
            for j in 0..len {
                if is_arg && uniform[j] {
                    at.push((usize::MAX, 0));
                } else if j > 0 && j < row {
                    at.push((at[first].0, (j * 8) as i32));
                } else {
                    let base = if is_arg {
                        a_ptr[j]
                    } else {
                        load_ptr(self.b, out_ptrs, j)
                    };
                    let stride = load_ptr(self.b, strides, j);
                    at.push((streams.len(), 0));
                    streams.push((base, stride));
                }
            }
        }
        // With few streams each keeps its own pointer, moved on by its stride in bytes every
        // element (an add instead of a multiply, shift and add per access); with many, the
        // pointers would not fit in registers, and addresses are computed from the index.
        let carry = streams.len() <= MAX_CARRIED;
        let steps: Vec<Value> = if carry {
            streams
                .iter()
                .map(|&(_, stride)| self.b.ins().ishl_imm_u(stride, 3))
                .collect()
        } else {
            Vec::new()
        };
        let header = self.b.create_block();
        let body = self.b.create_block();
        let exit = self.b.create_block();
        self.b.append_block_param(header, self.ptr);
        if carry {
            for _ in &streams {
                self.b.append_block_param(header, self.ptr);
            }
        }
        let zero = self.b.ins().iconst(self.ptr, 0);
        let mut start: Vec<cranelift_codegen::ir::BlockArg> = vec![zero.into()];
        if carry {
            start.extend(
                streams
                    .iter()
                    .map(|&(base, _)| cranelift_codegen::ir::BlockArg::from(base)),
            );
        }
        self.b.ins().jump(header, &start);
        self.b.switch_to_block(header);
        let i = self.b.block_params(header)[0];
        let carried: Vec<Value> = self.b.block_params(header)[1..].to_vec();
        let more = self.b.ins().icmp(
            cranelift_codegen::ir::condcodes::IntCC::SignedLessThan,
            i,
            count,
        );
        self.b.ins().brif(more, body, &[], exit, &[]);
        self.b.switch_to_block(body);
        self.b.seal_block(body);
        // The address of stream `s` for element `i`.
        let addr = |b: &mut FunctionBuilder, s: usize| {
            if carry {
                return carried[s];
            }
            let (base, stride) = streams[s];
            let elems = b.ins().imul(i, stride);
            let bytes = b.ins().ishl_imm_u(elems, 3);
            b.ins().iadd(base, bytes)
        };
        self.values.clear();
        self.translate_body(f, &mut |b, n| {
            if let Some(v) = once[n] {
                return v;
            }
            let (s, offset) = at[n];
            let base = addr(b, s);
            b.ins().load(types::F64, flags, base, offset)
        });
        for (k, (_, v)) in f.outputs.iter().enumerate() {
            let val = self.v(*v);
            let (s, offset) = at[nargs + k];
            let base = addr(self.b, s);
            self.b.ins().store(flags, val, base, offset);
        }
        let next = self.b.ins().iadd_imm_s(i, 1);
        let mut again: Vec<cranelift_codegen::ir::BlockArg> = vec![next.into()];
        if carry {
            for (p, step) in carried.iter().zip(&steps) {
                again.push(self.b.ins().iadd(*p, *step).into());
            }
        }
        self.b.ins().jump(header, &again);
        self.b.seal_block(header);
        self.b.switch_to_block(exit);
        self.b.seal_block(exit);
        self.b.ins().return_(&[]);
    }

    /// Emits the instructions of `f`, loading argument `n` with `load_arg`.
    fn translate_body(
        &mut self,
        f: &Function,
        load_arg: &mut dyn FnMut(&mut FunctionBuilder, usize) -> Value,
    ) {
        for op in &f.insts {
            let v = match op {
                Op::Const(c) => self.b.ins().f64const(*c),
                Op::Arg(n) => load_arg(self.b, *n as usize),
                Op::Unary(o, a) => self.translate_unary(*o, self.v(*a)),
                Op::Binary(o, a, c) => self.translate_binary(*o, self.v(*a), self.v(*c)),
                Op::Select(c, a, e) => self.translate_select(self.v(*c), self.v(*a), self.v(*e)),
                Op::Heaviside(h, _) => self.translate_heaviside(self.v(*h)),
                Op::SurrogateGrad(h, s) => self.translate_surrogate(self.v(*h), *s),
                Op::DdExp(vs) => self.translate_dd_exp(vs),
                Op::Expm { at, args, .. } => self.translate_expm(*at, args),
            };
            self.values.push(v);
        }
    }

    fn translate_unary(&mut self, op: UnaryOp, a: Value) -> Value {
        match op {
            UnaryOp::Neg => self.b.ins().fneg(a),
            UnaryOp::Abs => self.b.ins().fabs(a),
            UnaryOp::Sqrt => self.b.ins().sqrt(a),
            UnaryOp::Exp => self.call("snnc_exp", &[a]),
            UnaryOp::Expm1 => self.call("snnc_expm1", &[a]),
            UnaryOp::Log => self.call("snnc_log", &[a]),
            UnaryOp::Tanh => self.call("snnc_tanh", &[a]),
            UnaryOp::Sin => self.call("snnc_sin", &[a]),
            UnaryOp::Cos => self.call("snnc_cos", &[a]),
            UnaryOp::Not => {
                let zero = self.b.ins().f64const(0.0);
                let c = self.b.ins().fcmp(FloatCC::Equal, a, zero);
                self.bool_to_f64(c)
            }
        }
    }

    fn translate_binary(&mut self, op: BinaryOp, a: Value, c: Value) -> Value {
        let cmp = |cc| Some(cc);
        let cc = match op {
            BinaryOp::Add => return self.b.ins().fadd(a, c),
            BinaryOp::Sub => return self.b.ins().fsub(a, c),
            BinaryOp::Mul => return self.b.ins().fmul(a, c),
            BinaryOp::Div => return self.b.ins().fdiv(a, c),
            BinaryOp::Pow => return self.call("snnc_pow", &[a, c]),
            BinaryOp::Min => return self.call("snnc_min", &[a, c]),
            BinaryOp::Max => return self.call("snnc_max", &[a, c]),
            BinaryOp::Lt => cmp(FloatCC::LessThan),
            BinaryOp::Le => cmp(FloatCC::LessThanOrEqual),
            BinaryOp::Eq => cmp(FloatCC::Equal),
            BinaryOp::Ne => cmp(FloatCC::NotEqual),
            BinaryOp::And | BinaryOp::Or => None,
        };
        match cc {
            Some(cc) => {
                let r = self.b.ins().fcmp(cc, a, c);
                self.bool_to_f64(r)
            }
            None => {
                let (x, y) = (self.nonzero(a), self.nonzero(c));
                let r = if op == BinaryOp::And {
                    self.b.ins().band(x, y)
                } else {
                    self.b.ins().bor(x, y)
                };
                self.bool_to_f64(r)
            }
        }
    }

    fn translate_select(&mut self, c: Value, a: Value, e: Value) -> Value {
        let cond = self.nonzero(c);
        self.b.ins().select(cond, a, e)
    }

    fn translate_heaviside(&mut self, h: Value) -> Value {
        let zero = self.b.ins().f64const(0.0);
        let c = self.b.ins().fcmp(FloatCC::GreaterThanOrEqual, h, zero);
        self.bool_to_f64(c)
    }

    fn translate_surrogate(&mut self, h: Value, s: SurrogateFn) -> Value {
        let (name, beta) = match s {
            SurrogateFn::SuperSpike { beta } => ("snnc_superspike", beta),
            SurrogateFn::Sigmoid { beta } => ("snnc_sigmoid", beta),
        };
        let beta = self.b.ins().f64const(beta);
        self.call(name, &[h, beta])
    }

    fn translate_dd_exp(&mut self, vs: &[IrValue]) -> Value {
        // One or two nodes: a direct call with the arguments in registers.
        match vs.len() {
            2 => return self.call("snnc_dd_exp1", &[self.v(vs[0]), self.v(vs[1])]),
            3 => {
                let args = [self.v(vs[0]), self.v(vs[1]), self.v(vs[2])];
                return self.call("snnc_dd_exp2", &args);
            }
            _ => {}
        }
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (vs.len() * 8) as u32,
            3,
        ));
        for (k, v) in vs.iter().enumerate() {
            let val = self.v(*v);
            self.b
                .ins()
                .stack_store(self.ptr, val, slot, (k * 8) as i32);
        }
        let addr = self.b.ins().stack_addr(self.ptr, slot, 0);
        let len = self.b.ins().iconst(self.ptr, vs.len() as i64);
        let inst = self.b.ins().call(self.imports.dd_exp, &[addr, len]);
        self.b.inst_results(inst)[0]
    }
}

impl FunctionTranslator<'_, '_> {
    /// An `expm` entry: a call of `snnc_expm` with `[at, t, M..]` in a stack slot.
    fn translate_expm(&mut self, at: u32, args: &[IrValue]) -> Value {
        let mut vals = vec![self.b.ins().f64const(f64::from(at))];
        vals.extend(args.iter().map(|v| self.v(*v)));
        let slot = self.b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (vals.len() * 8) as u32,
            3,
        ));
        for (k, val) in vals.iter().enumerate() {
            self.b
                .ins()
                .stack_store(self.ptr, *val, slot, (k * 8) as i32);
        }
        let addr = self.b.ins().stack_addr(self.ptr, slot, 0);
        let len = self.b.ins().iconst(self.ptr, vals.len() as i64);
        let inst = self.b.ins().call(self.imports.expm, &[addr, len]);
        self.b.inst_results(inst)[0]
    }
}

/// The signature of an imported runtime function with `n` f64 arguments.
pub fn f64_signature(sig: &mut cranelift_codegen::ir::Signature, n: usize) {
    sig.params
        .extend(std::iter::repeat_n(AbiParam::new(types::F64), n));
    sig.returns.push(AbiParam::new(types::F64));
}
