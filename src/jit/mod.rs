//! The Cranelift JIT: compiles IR functions to native code behind the engines' [`Eval`] trait.
//!
//! A [`Jit`] owns one `JITModule` (code memory), a reused `FunctionBuilderContext` and a codegen
//! `Context`. Compiling a set of functions yields [`JitFn`]s that share ownership of the code
//! memory through an `Arc`; the memory is freed when the last of them is dropped. Generated code
//! has the C signature `fn(args: *const f64, out: *mut f64)`. This is the only module that
//! imports Cranelift.

mod runtime;
mod translate;

use crate::ir::Function;
use crate::sim::kernels::Eval;
use cranelift_codegen::ir::{AbiParam, UserFuncName, types};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{Context, ir};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};
use std::collections::HashMap;
use std::sync::Arc;
use translate::{FunctionTranslator, Imports, f64_signature};

/// A JIT failure (a bug or an unsupported host, never a user error).
#[derive(Debug, Clone, PartialEq)]
pub struct JitError(pub String);

impl std::fmt::Display for JitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JIT compilation failed: {}", self.0)
    }
}

fn err(e: impl std::fmt::Display) -> JitError {
    JitError(e.to_string())
}

/// Code memory of one compiled batch; freed on drop.
struct CodeMemory {
    module: Option<JITModule>,
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        if let Some(m) = self.module.take() {
            // SAFETY: every function pointer into this memory lives in a `JitFn`, which holds an
            // `Arc` to this `CodeMemory`; we are dropping the last `Arc`, so none remain.
            unsafe { m.free_memory() };
        }
    }
}

// SAFETY: after `finalize_definitions` the code memory is immutable and only executed; the
// module is touched again only to free it, which `Drop` does with exclusive access.
unsafe impl Send for CodeMemory {}
// SAFETY: see `Send`; shared references never mutate the module.
unsafe impl Sync for CodeMemory {}

type RawFn = unsafe extern "C" fn(*const f64, *mut f64);

/// A compiled function.
pub struct JitFn {
    code: RawFn,
    n_args: usize,
    n_outputs: usize,
    _memory: Arc<CodeMemory>,
}

impl Eval for JitFn {
    fn call(&self, args: &[f64], out: &mut [f64]) {
        assert!(
            args.len() >= self.n_args && out.len() >= self.n_outputs,
            "argument or output buffer too small"
        );
        // SAFETY: the code reads `n_args` values from `args` and writes `n_outputs` values to
        // `out`, both checked above; the code memory is alive while `self` is.
        unsafe { (self.code)(args.as_ptr(), out.as_mut_ptr()) }
    }

    fn n_outputs(&self) -> usize {
        self.n_outputs
    }
}

type PopRawFn =
    unsafe extern "C" fn(*const *const f64, *const i64, *const *mut f64, *const i64, i64);

/// Where a population kernel reads one argument: element `i` is `data[offset + i * stride]`
/// (`stride` 0 broadcasts one value to every element).
#[derive(Clone, Copy)]
pub struct Strided<'a> {
    pub data: &'a [f64],
    pub offset: usize,
    pub stride: usize,
}

/// A compiled population kernel: the function applied to `count` elements in one call.
pub struct PopulationFn {
    code: PopRawFn,
    n_args: usize,
    n_outputs: usize,
    /// How the kernel was compiled to read and write (checked at every call).
    shape: KernelShape,
    _memory: Arc<CodeMemory>,
}

/// How a population kernel reads its arguments and writes its outputs, fixed when it is
/// compiled.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KernelShape {
    /// Arguments that are the same for every element: read once, before the loop (stride 0).
    pub uniform: Vec<bool>,
    /// The first `row` arguments, and likewise the first `row` outputs, are consecutive values
    /// of one buffer for each element (a neuron's states, neuron-major: offsets `o, o + 1, ..`
    /// with one stride), so one pointer serves each row.
    pub row: usize,
}

impl KernelShape {
    /// Every argument strided on its own.
    pub fn strided(n_args: usize) -> KernelShape {
        KernelShape {
            uniform: vec![false; n_args],
            row: 0,
        }
    }
}

impl PopulationFn {
    /// Runs the kernel on `count` elements; output `o` of element `i` goes to
    /// `out[o * count + i]` (struct of arrays).
    ///
    /// # Panics
    /// If the number of arguments is wrong or an access would leave its buffer.
    pub fn run(&self, args: &[Strided<'_>], out: &mut [f64], count: usize) {
        assert!(
            out.len() >= self.n_outputs * count,
            "output buffer too small"
        );
        let layout: Vec<(usize, usize, usize)> =
            (0..self.n_outputs).map(|o| (0, o * count, 1)).collect();
        self.run_into(args, &mut [out], &layout, count);
    }

    /// Runs the kernel on `count` elements; output `o` of element `i` goes to
    /// `bufs[b][offset + i * stride]` with `(b, offset, stride) = layout[o]` (for example
    /// states neuron-major into one buffer and spike flags into another). Outputs that share a
    /// location are written in output order.
    ///
    /// # Panics
    /// If the number of arguments or outputs is wrong or an access would leave its buffer.
    pub fn run_into(
        &self,
        args: &[Strided<'_>],
        bufs: &mut [&mut [f64]],
        layout: &[(usize, usize, usize)],
        count: usize,
    ) {
        assert!(args.len() == self.n_args, "wrong number of arguments");
        assert!(
            args.iter()
                .zip(&self.shape.uniform)
                .all(|(a, u)| !u || a.stride == 0),
            "a uniform argument needs stride 0"
        );
        assert!(layout.len() == self.n_outputs, "wrong number of outputs");
        // A row's members are reached from its first one: they must be where it says.
        let row = self.shape.row;
        assert!(
            args[..row].iter().enumerate().all(|(m, a)| {
                std::ptr::eq(a.data.as_ptr(), args[0].data.as_ptr())
                    && a.offset == args[0].offset + m
                    && a.stride == args[0].stride
            }),
            "the row's arguments must be consecutive in one buffer with one stride"
        );
        assert!(
            layout[..row]
                .iter()
                .enumerate()
                .all(|(m, &(b, offset, stride))| {
                    (b, offset, stride) == (layout[0].0, layout[0].1 + m, layout[0].2)
                }),
            "the row's outputs must be consecutive in one buffer with one stride"
        );
        // Checked: a wrapped product would let a huge stride pass. With count >= 2 a passing
        // stride is below the buffer's length, so `stride * 8` fits in an i64 (a slice of f64
        // is at most isize::MAX bytes); with count = 1 only element 0 is touched.
        let fits = |len: usize, offset: usize, stride: usize| {
            count == 0
                || (count - 1)
                    .checked_mul(stride)
                    .and_then(|span| span.checked_add(offset))
                    .is_some_and(|last| last < len)
        };
        assert!(
            args.iter().all(|a| fits(a.data.len(), a.offset, a.stride)),
            "argument buffer too small"
        );
        assert!(
            layout
                .iter()
                .all(|&(b, offset, stride)| b < bufs.len() && fits(bufs[b].len(), offset, stride)),
            "output buffer too small"
        );
        if count == 0 {
            return;
        }
        let arg_ptrs: Vec<*const f64> = args.iter().map(|a| a.data[a.offset..].as_ptr()).collect();
        let arg_strides: Vec<i64> = args.iter().map(|a| a.stride as i64).collect();
        let bases: Vec<*mut f64> = bufs.iter_mut().map(|b| b.as_mut_ptr()).collect();
        // SAFETY: `offset` lies inside buffer `b`, checked above (count > 0).
        let out_ptrs: Vec<*mut f64> = layout
            .iter()
            .map(|&(b, offset, _)| unsafe { bases[b].add(offset) })
            .collect();
        let out_strides: Vec<i64> = layout.iter().map(|&(_, _, s)| s as i64).collect();
        // SAFETY: every access `ptr + i * stride` for i < count was checked to lie inside its
        // buffer above, and the buffers are borrowed exclusively for the call; the code memory
        // lives as long as `self`.
        unsafe {
            (self.code)(
                arg_ptrs.as_ptr(),
                arg_strides.as_ptr(),
                out_ptrs.as_ptr(),
                out_strides.as_ptr(),
                count as i64,
            )
        }
    }
}

/// Compiles IR functions to native code.
pub struct Jit {
    /// The module receiving the current batch (`None` between batches).
    module: JITModule,
    /// Reused across functions to avoid reallocating the builder's tables.
    builder_ctx: FunctionBuilderContext,
    /// Reused codegen context (cleared after each function).
    ctx: Context,
}

fn new_module() -> Result<JITModule, JitError> {
    let mut flags = settings::builder();
    flags.set("use_colocated_libcalls", "false").map_err(err)?;
    flags.set("is_pic", "false").map_err(err)?;
    flags.set("opt_level", "speed").map_err(err)?;
    let isa = cranelift_native::builder()
        .map_err(err)?
        .finish(settings::Flags::new(flags))
        .map_err(err)?;
    let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
    for (name, ptr, _) in runtime::symbols() {
        builder.symbol(name, ptr);
    }
    builder.symbol("snnc_dd_exp", runtime::dd_exp as *const u8);
    builder.symbol("snnc_expm", runtime::expm as *const u8);
    Ok(JITModule::new(builder))
}

impl Jit {
    pub fn new() -> Result<Jit, JitError> {
        let module = new_module()?;
        let ctx = module.make_context();
        Ok(Jit {
            module,
            builder_ctx: FunctionBuilderContext::new(),
            ctx,
        })
    }

    /// Cranelift IR of `f`, as `snnc ir --emit clif` prints it.
    pub fn clif(&mut self, f: &Function) -> Result<String, JitError> {
        self.build(f)?;
        let text = self.ctx.func.display().to_string();
        self.module.clear_context(&mut self.ctx);
        Ok(text)
    }

    fn build(&mut self, f: &Function) -> Result<(), JitError> {
        self.build_as(f, None)
    }

    /// Builds `f` as a scalar function, or with `population` (its shape) as a population
    /// kernel.
    fn build_as(&mut self, f: &Function, population: Option<&KernelShape>) -> Result<(), JitError> {
        let ptr = self.module.target_config().pointer_type();
        self.module.clear_context(&mut self.ctx);
        let n_params = if population.is_some() { 5 } else { 2 };
        for _ in 0..n_params {
            self.ctx.func.signature.params.push(AbiParam::new(ptr));
        }
        self.ctx.func.name = UserFuncName::testcase(&f.name);
        let mut funcs = HashMap::new();
        let declare = |module: &mut JITModule,
                       func: &mut ir::Function,
                       name: &'static str,
                       sig: ir::Signature|
         -> Result<ir::FuncRef, JitError> {
            let id = module
                .declare_function(name, Linkage::Import, &sig)
                .map_err(err)?;
            Ok(module.declare_func_in_func(id, func))
        };
        for (name, _, n) in runtime::symbols() {
            let mut sig = self.module.make_signature();
            f64_signature(&mut sig, n);
            let r = declare(&mut self.module, &mut self.ctx.func, name, sig)?;
            funcs.insert(name, r);
        }
        let mut sig = self.module.make_signature();
        sig.params.push(AbiParam::new(ptr));
        sig.params.push(AbiParam::new(ptr));
        sig.returns.push(AbiParam::new(types::F64));
        let dd_exp = declare(
            &mut self.module,
            &mut self.ctx.func,
            "snnc_dd_exp",
            sig.clone(),
        )?;
        let expm = declare(&mut self.module, &mut self.ctx.func, "snnc_expm", sig)?;
        let imports = Imports {
            funcs,
            dd_exp,
            expm,
        };
        let mut b = FunctionBuilder::new(&mut self.ctx.func, &mut self.builder_ctx);
        let block = b.create_block();
        b.append_block_params_for_function_params(block);
        b.switch_to_block(block);
        b.seal_block(block);
        let p = b.block_params(block).to_vec();
        let mut t = FunctionTranslator::new(&mut b, &imports, ptr);
        if let Some(uniform) = population {
            t.translate_population(
                f,
                [p[0], p[1], p[2], p[3], p[4]],
                &uniform.uniform,
                uniform.row,
            );
        } else {
            t.translate_function(f, p[0], p[1]);
        }
        b.finalize(self.module.target_config());
        Ok(())
    }

    /// Declares and defines the function just built as `name`; returns its id.
    fn define(&mut self, name: &str) -> Result<cranelift_module::FuncId, JitError> {
        let id = self
            .module
            .declare_function(name, Linkage::Local, &self.ctx.func.signature)
            .map_err(err)?;
        self.module
            .define_function(id, &mut self.ctx)
            .map_err(|e| JitError(format!("{e:?}")))?;
        self.module.clear_context(&mut self.ctx);
        Ok(id)
    }

    /// Finalizes the batch: hands its code memory to an `Arc` owner with the code pointers of
    /// `ids`, and starts a fresh module for the next batch.
    fn finish_batch(
        &mut self,
        ids: &[cranelift_module::FuncId],
    ) -> Result<(Arc<CodeMemory>, Vec<*const u8>), JitError> {
        self.module.finalize_definitions().map_err(err)?;
        let module = std::mem::replace(&mut self.module, new_module()?);
        let ptrs = ids
            .iter()
            .map(|id| module.get_finalized_function(*id))
            .collect();
        self.ctx = self.module.make_context();
        Ok((
            Arc::new(CodeMemory {
                module: Some(module),
            }),
            ptrs,
        ))
    }

    /// Compiles `f` as a population kernel (the loop over elements is generated code).
    pub fn compile_population(&mut self, f: &Function) -> Result<PopulationFn, JitError> {
        self.compile_population_shaped(f, &KernelShape::strided(f.args.len()))
    }

    /// [`Jit::compile_population`] with the arguments marked in `uniform` the same for every
    /// element: the kernel loads them once, before its loop (so they can stay in registers), and
    /// must be given them with stride 0.
    pub fn compile_population_uniform(
        &mut self,
        f: &Function,
        uniform: &[bool],
    ) -> Result<PopulationFn, JitError> {
        let shape = KernelShape {
            uniform: uniform.to_vec(),
            row: 0,
        };
        self.compile_population_shaped(f, &shape)
    }

    /// [`Jit::compile_population`] for the layout `shape` describes.
    ///
    /// # Panics
    /// If `shape` has not one flag per argument, or its row is longer than the arguments or
    /// outputs or holds a uniform argument.
    pub fn compile_population_shaped(
        &mut self,
        f: &Function,
        shape: &KernelShape,
    ) -> Result<PopulationFn, JitError> {
        assert_eq!(shape.uniform.len(), f.args.len(), "one flag per argument");
        assert!(
            shape.row <= f.args.len().min(f.outputs.len())
                && !shape.uniform[..shape.row].contains(&true),
            "a row of strided arguments and outputs"
        );
        self.build_as(f, Some(shape))?;
        let id = self.define(&format!("snnc_pop_{}", f.name))?;
        let (memory, ptrs) = self.finish_batch(&[id])?;
        Ok(PopulationFn {
            // SAFETY: `ptrs[0]` is finalized code generated by `translate_population` with the C
            // signature `fn(*const *const f64, *const i64, *const *mut f64, *const i64, i64)`.
            code: unsafe { std::mem::transmute::<*const u8, PopRawFn>(ptrs[0]) },
            n_args: f.args.len(),
            n_outputs: f.outputs.len(),
            shape: shape.clone(),
            _memory: memory,
        })
    }

    /// Compiles `fs` into one block of code memory and returns them in order.
    pub fn compile(&mut self, fs: &[&Function]) -> Result<Vec<JitFn>, JitError> {
        let mut ids = Vec::new();
        for (k, f) in fs.iter().enumerate() {
            self.build(f)?;
            ids.push(self.define(&format!("snnc_{k}_{}", f.name))?);
        }
        let (memory, ptrs) = self.finish_batch(&ids)?;
        Ok(fs
            .iter()
            .zip(ptrs)
            .map(|(f, p)| JitFn {
                // SAFETY: `p` is the finalized code of a function generated with the signature
                // `fn(*const f64, *mut f64)` in the C calling convention of this host.
                code: unsafe { std::mem::transmute::<*const u8, RawFn>(p) },
                n_args: f.args.len(),
                n_outputs: f.outputs.len(),
                _memory: Arc::clone(&memory),
            })
            .collect())
    }
}
