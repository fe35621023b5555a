//! The `snnc run` job: simulate or train a checked program and write its results folder.
//!
//! This is orchestration with IO (like `driver`): it builds kernels and the network, calls the
//! engines or the trainer, reports progress through a callback, and writes files through
//! `results`. The numerical work lives in `sim` and `train`.

use crate::driver;
use crate::results::{ResultsDir, hash_text, npy_f64, npy_i64};
use crate::sema::hir::{InputId, InputKind};
use crate::sema::hir::{Mode, Node, Program};
use crate::sim::event::{EventEngine, TraceRequest};
use crate::sim::kernels::{Backend, ModelKernels};
use crate::sim::network::{Network, projection_name};
use crate::train::files::{self, DataError, FileSpec};
use crate::train::{EpochStats, Trainer, optim::OptimState};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Where a run reports progress: lines for the log, and per-batch updates for a progress bar.
pub trait Progress {
    fn line(&mut self, text: &str);
    /// Called after every training batch (a progress bar shows it; logs may ignore it).
    fn batch(&mut self, _epoch: usize, _progress: crate::train::BatchProgress) {}
    /// Called during a simulation with the model time simulated so far, and once with
    /// `t == t_max` at its end.
    fn simulated(&mut self, _t: f64, _t_max: f64) {}
}

impl<F: FnMut(&str)> Progress for F {
    fn line(&mut self, text: &str) {
        self(text)
    }
}

/// Options of one run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub out: PathBuf,
    pub threads: usize,
    pub backend: Backend,
    pub source_name: String,
    pub source_text: String,
    /// `--set` overrides applied to the program.
    pub overrides: Vec<String>,
    /// Continue from the checkpoint in `out` if there is one.
    pub resume: bool,
    /// Run forward passes on the BrainScaleS-2 mock (hardware in the loop).
    pub chip: bool,
    /// The folder that relative paths of `file` inputs start from: the program's folder.
    pub base_dir: PathBuf,
}

/// The saved state after a completed epoch (written last, so its presence means the
/// checkpoint is complete).
#[derive(serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    epochs_done: usize,
    optimizer_step: u64,
    best_selection: f64,
    metrics_csv: String,
    program_hash: String,
}

/// The columns of `metrics.csv`. `train_seconds` (the epoch's training alone, without its
/// evaluation) came last, after the others.
const METRICS_HEADER: &str = "epoch,loss,train_accuracy,validation_accuracy,test_accuracy,seconds,spikes_per_sample,limit_hits,near_grazing,train_seconds";

/// The metrics of a checkpoint in today's columns: a checkpoint written before `train_seconds`
/// existed gets the column, empty in its rows, so that the epochs still to run line up.
fn with_current_header(csv: String) -> String {
    let Some((header, rows)) = csv.split_once('\n') else {
        return csv;
    };
    if header == METRICS_HEADER || !METRICS_HEADER.starts_with(header) {
        return csv;
    }
    let missing = METRICS_HEADER[header.len()..].matches(',').count();
    let mut out = format!("{METRICS_HEADER}\n");
    for row in rows.lines() {
        out.push_str(row);
        out.push_str(&",".repeat(missing));
        out.push('\n');
    }
    out
}

fn save_checkpoint(
    dir: &ResultsDir,
    net: &Network,
    opt: &OptimState,
    cp: &Checkpoint,
) -> std::io::Result<()> {
    for (k, s) in net.projections.iter().enumerate() {
        dir.write(
            &format!("checkpoint/w{k}.npy"),
            &npy_f64(&s.w, &[s.w.len()]),
        )?;
        dir.write(
            &format!("checkpoint/m{k}.npy"),
            &npy_f64(&opt.m[k], &[opt.m[k].len()]),
        )?;
        dir.write(
            &format!("checkpoint/v{k}.npy"),
            &npy_f64(&opt.v[k], &[opt.v[k].len()]),
        )?;
    }
    dir.write(
        "checkpoint/state.json",
        serde_json::to_string_pretty(cp)
            .unwrap_or_default()
            .as_bytes(),
    )
}

fn load_vec(dir: &ResultsDir, name: &str, len: usize) -> Result<Vec<f64>, RunError> {
    let bytes = std::fs::read(dir.path.join(name))?;
    match crate::results::read_npy_f64(&bytes) {
        Some((v, _)) if v.len() == len => Ok(v),
        _ => Err(RunError::Sim(format!(
            "checkpoint file `{name}` is damaged or does not fit this program"
        ))),
    }
}

/// Restores network, optimiser and best network from a checkpoint, if present.
fn load_checkpoint(
    dir: &ResultsDir,
    net: &mut Network,
    opt: &mut OptimState,
    best: &mut Network,
    hash: &str,
) -> Result<Option<Checkpoint>, RunError> {
    let path = dir.path.join("checkpoint/state.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let cp: Checkpoint = serde_json::from_str(&text)
        .map_err(|e| RunError::Sim(format!("cannot read {}: {e}", path.display())))?;
    if cp.program_hash != hash {
        return Err(RunError::Sim("the checkpoint belongs to a different program (or different overrides); resume with the same ones".into()));
    }
    for k in 0..net.projections.len() {
        let len = net.projections[k].w.len();
        net.projections[k].w = load_vec(dir, &format!("checkpoint/w{k}.npy"), len)?;
        opt.m[k] = load_vec(dir, &format!("checkpoint/m{k}.npy"), len)?;
        opt.v[k] = load_vec(dir, &format!("checkpoint/v{k}.npy"), len)?;
        best.projections[k].w = load_vec(dir, &format!("checkpoint/best{k}.npy"), len)?;
    }
    opt.step = cp.optimizer_step;
    Ok(Some(cp))
}

/// Why a run failed (after a successful check).
#[derive(Debug)]
pub enum RunError {
    Io(std::io::Error),
    Sim(String),
    /// The spike data file of the `file` input `input` is unreadable or wrong.
    Data {
        input: String,
        error: DataError,
    },
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Io(e) => write!(f, "cannot write results: {e}"),
            RunError::Sim(e) => f.write_str(e),
            RunError::Data { input, error } => write!(f, "input `{input}`: {error}"),
        }
    }
}

impl From<std::io::Error> for RunError {
    fn from(e: std::io::Error) -> Self {
        RunError::Io(e)
    }
}

fn manifest(
    p: &Program,
    opts: &RunOptions,
    seed: u64,
    kind: &str,
    extra: serde_json::Value,
) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "schema": "snnc.results/v1",
        "kind": kind,
        "program": opts.source_name,
        "program_hash": hash_text(&opts.source_text),
        "overrides": opts.overrides,
        "snnc_version": env!("CARGO_PKG_VERSION"),
        "seed": seed,
        "threads": opts.threads,
        "backend": format!("{:?}", opts.backend).to_lowercase(),
        "t_max_s": p.simulation.t_max,
        "populations": p.populations.iter().map(|q| serde_json::json!({"name": q.name, "size": q.size})).collect::<Vec<_>>(),
        "inputs": p.inputs.iter().map(|i| serde_json::json!({"name": i.name, "size": i.size})).collect::<Vec<_>>(),
        "details": extra,
    }))
    .unwrap_or_default()
}

/// The node names by code (`details.node_codes` of the manifest): populations in declaration
/// order, then inputs.
fn node_names(p: &Program) -> Vec<String> {
    p.populations
        .iter()
        .map(|q| q.name.clone())
        .chain(p.inputs.iter().map(|i| i.name.clone()))
        .collect()
}

/// The code of a node in `spikes_node.npy` and `test_spikes_node.npy`.
fn node_code(p: &Program, node: Node) -> usize {
    match node {
        Node::Pop(q) => q.index(),
        Node::Input(i) => p.populations.len() + i.index(),
    }
}

/// How many test samples have all their spikes saved (`test_spikes_*.npy`) for the raster.
pub const TEST_SPIKE_SAMPLES: usize = 5;

/// Simulates the program's inputs once and writes the spikes.
pub fn simulate(
    p: &Program,
    opts: &RunOptions,
    progress: &mut dyn Progress,
) -> Result<(), RunError> {
    let models = driver::lower(p);
    let kernels = models
        .iter()
        .map(|m| ModelKernels::new(m, opts.backend))
        .collect::<Result<Vec<ModelKernels>, _>>()
        .map_err(|e| RunError::Sim(e.to_string()))?;
    let seed = 0;
    let net = Network::build(p, seed);
    if let Some(i) = p
        .inputs
        .iter()
        .find(|i| matches!(i.kind, InputKind::YinYang(_)))
    {
        return Err(RunError::Sim(format!(
            "input `{}` is a dataset; simulating datasets without a train section is not implemented yet",
            i.name
        )));
    }
    let mut inputs = crate::sim::inputs::generate(p, seed, p.simulation.t_max);
    for (k, spikes) in read_file_inputs(p, opts, None)?.trains {
        inputs[k.index()] = spikes;
    }
    let start = std::time::Instant::now();
    let dir = ResultsDir::create(opts.out.clone())?;
    // Which engine ran, for the summary line and the manifest.
    let mut engine_name = "time-discrete engine";
    let outcome = if opts.chip {
        engine_name = "BrainScaleS-2 mock";
        if !p.record.traces.is_empty() {
            progress.line("note: the BSS-2 mock records spikes only; no state traces are written");
        }
        simulate_on_chip(p, &models, &net, &inputs, opts)?
    } else {
        match p.simulation.mode {
            Mode::Event {
                max_spikes_per_neuron,
            } => {
                let engine = EventEngine {
                    forced: None,
                    program: p,
                    kernels: &kernels,
                    network: &net,
                    t_max: p.simulation.t_max,
                    max_spikes: max_spikes_per_neuron,
                };
                engine.check().map_err(|e| RunError::Sim(e.to_string()))?;
                let request = (!p.record.traces.is_empty()).then(|| TraceRequest {
                    dt: p.record.trace_dt(),
                    states: p
                        .record
                        .traces
                        .iter()
                        .map(|(pop, state)| (pop.index(), state.index()))
                        .collect(),
                });
                let t_max = p.simulation.t_max;
                engine_name = if engine.steps_traced(&inputs, request.as_ref()) {
                    "exact event engine, stepped driver"
                } else {
                    "exact event engine, queue driver"
                };
                let (outcome, traces) = engine.run_threaded(
                    &inputs,
                    false,
                    request.as_ref(),
                    &mut |t| progress.simulated(t, t_max),
                    opts.threads,
                );
                write_traces(p, &dir, &traces.times, |r, k, i| {
                    let size = p.populations[p.record.traces[r].0.index()].size;
                    traces.values[r][k * size + i]
                })?;
                outcome
            }
            Mode::Discrete { dt, scheme } => simulate_discrete(
                p,
                &models,
                &kernels,
                &net,
                &inputs,
                dt,
                scheme,
                opts.backend,
                &dir,
                &mut |t| progress.simulated(t, p.simulation.t_max),
            )?,
        }
    };
    progress.simulated(p.simulation.t_max, p.simulation.t_max);
    let secs = start.elapsed().as_secs_f64();
    let recorded = |node: Node| p.record.spikes.is_empty() || p.record.spikes.contains(&node);
    let mut csv = String::from("node,neuron,time_s\n");
    let (mut times, mut nodes, mut idx) = (Vec::new(), Vec::new(), Vec::new());
    let node_names = node_names(p);
    for s in outcome.spikes.iter().filter(|s| recorded(s.node)) {
        let code = node_code(p, s.node);
        let _ = writeln!(csv, "{},{},{:e}", node_names[code], s.idx, s.t);
        times.push(s.t);
        nodes.push(code as i64);
        idx.push(s.idx as i64);
    }
    dir.write("spikes.csv", csv.as_bytes())?;
    dir.write("spikes_time.npy", &npy_f64(&times, &[times.len()]))?;
    dir.write("spikes_node.npy", &npy_i64(&nodes, &[nodes.len()]))?;
    dir.write("spikes_neuron.npy", &npy_i64(&idx, &[idx.len()]))?;
    let counts: Vec<serde_json::Value> = p
        .populations
        .iter()
        .enumerate()
        .map(|(k, q)| {
            let n = outcome.spikes.iter().filter(|s| s.node == Node::Pop(crate::sema::hir::PopId(k as u32))).count();
            serde_json::json!({"population": q.name, "spikes": n, "rate_hz": n as f64 / q.size as f64 / p.simulation.t_max, "limit_hits": outcome.limit_hits[k]})
        })
        .collect();
    let details = serde_json::json!({"node_codes": node_names, "wall_seconds": secs, "engine": engine_name, "populations": counts});
    dir.write(
        "manifest.json",
        manifest(p, opts, seed, "simulation", details).as_bytes(),
    )?;
    for c in &counts {
        let hits = c["limit_hits"].as_u64().unwrap_or(0);
        progress.line(&format!(
            "{}: {} spikes ({:.2} Hz per neuron){}",
            c["population"].as_str().unwrap_or("?"),
            c["spikes"],
            c["rate_hz"].as_f64().unwrap_or(0.0),
            if hits > 0 {
                format!("; {hits} crossings dropped by the spike limit (limit_hits)")
            } else {
                String::new()
            }
        ));
    }
    progress.line(&format!(
        "simulated {} in {secs:.3} s ({engine_name}); results in {}",
        crate::report::fmt_time(p.simulation.t_max),
        opts.out.display()
    ));
    Ok(())
}

/// Runs the inputs once on the BrainScaleS-2 mock: compiles the program, executes the
/// configuration and returns the recorded spikes (in model time, latency removed) with the
/// input spikes. The mock records no state traces.
fn simulate_on_chip(
    p: &Program,
    models: &[crate::ir::derive::ModelIr],
    net: &Network,
    inputs: &[Vec<(f64, u32)>],
    opts: &RunOptions,
) -> Result<crate::sim::event::Outcome, RunError> {
    let hw = p
        .hardware
        .clone()
        .unwrap_or_else(|| crate::bss2::default_hardware(p));
    let compiled = crate::bss2::compile(
        p,
        models,
        net,
        &crate::bss2::Options {
            seed: 0,
            program_hash: "",
            batch_size: 1,
        },
    )
    .map_err(|e| {
        RunError::Sim(format!(
            "the program cannot be compiled for BrainScaleS-2 (see `snnc compile --target bss2`): {}",
            e.first().map_or(String::new(), |e| e.to_diagnostic().message)
        ))
    })?;
    let mock = crate::bss2::mock::Mock::new(&compiled.config, &hw.mock, opts.backend)
        .map_err(|e| RunError::Sim(e.to_string()))?;
    let recorded = mock.run(&inputs.to_vec(), hw.mock.chip_seed);
    let mut spikes: Vec<crate::sim::event::SpikeRecord> = Vec::new();
    for (k, train) in inputs.iter().enumerate() {
        for &(t, i) in train.iter().filter(|(t, _)| *t <= p.simulation.t_max) {
            spikes.push(crate::sim::event::SpikeRecord {
                node: Node::Input(InputId(k as u32)),
                idx: i,
                t,
            });
        }
    }
    for (q, neurons) in recorded.iter().enumerate() {
        for (i, cycles) in neurons.iter().enumerate() {
            for &c in cycles {
                spikes.push(crate::sim::event::SpikeRecord {
                    node: Node::Pop(crate::sema::hir::PopId(q as u32)),
                    idx: i as u32,
                    t: mock.to_model_time(c),
                });
            }
        }
    }
    spikes.sort_by(|a, b| a.t.total_cmp(&b.t));
    Ok(crate::sim::event::Outcome {
        spikes,
        limit_hits: vec![0; p.populations.len()],
        log: None,
    })
}

/// Where a `file` input's data is: its path relative to the program's folder.
fn file_spec(p: &Program, opts: &RunOptions, input: InputId) -> Option<(FileSpec, PathBuf)> {
    let i = &p.inputs[input.index()];
    let InputKind::File { path, time_unit } = &i.kind else {
        return None;
    };
    let classes = p
        .training
        .as_ref()
        .filter(|t| t.data == input)
        .map(|t| p.populations[t.output.index()].size);
    let spec = FileSpec {
        path: path.clone(),
        channels: i.size,
        time_unit: *time_unit,
        classes,
    };
    Some((spec, opts.base_dir.join(path)))
}

fn read_data(input: &str, spec: &FileSpec, full: &std::path::Path) -> Result<Vec<u8>, RunError> {
    std::fs::read(full).map_err(|e| RunError::Data {
        input: input.into(),
        error: DataError::Read {
            path: spec.path.clone(),
            reason: format!("{e} (looked for {})", full.display()),
        },
    })
}

/// What the `file` inputs of a program hold.
#[derive(Default)]
struct FileInputs {
    /// The spike trains of every `file` input except the training data.
    trains: Vec<(InputId, Vec<(f64, u32)>)>,
    /// The training data, if it is a `file` input.
    dataset: Option<crate::train::data::Dataset>,
    /// The FNV-1a hashes of the files read, so a checkpoint is not resumed on other data.
    hash: String,
}

/// Reads every `file` input; `data` is the training data input, if any.
fn read_file_inputs(
    p: &Program,
    opts: &RunOptions,
    data: Option<InputId>,
) -> Result<FileInputs, RunError> {
    let mut out = FileInputs::default();
    for k in (0..p.inputs.len()).map(|k| InputId(k as u32)) {
        let Some((spec, full)) = file_spec(p, opts, k) else {
            continue;
        };
        let input = &p.inputs[k.index()].name;
        let bytes = read_data(input, &spec, &full)?;
        out.hash.push_str(&crate::results::hash_bytes(&bytes));
        let wrong = |error| RunError::Data {
            input: input.clone(),
            error,
        };
        if Some(k) == data {
            out.dataset = Some(files::dataset(&spec, &bytes).map_err(wrong)?);
        } else {
            let trains = files::spike_trains(&spec, &bytes).map_err(wrong)?;
            out.trains.push((k, trains));
        }
    }
    Ok(out)
}

/// Runs the time-discrete engine, writes the recorded state traces, and returns the spikes in
/// the event engine's form (time order, then population, then neuron).
#[allow(clippy::too_many_arguments)]
fn simulate_discrete(
    p: &Program,
    models: &[crate::ir::derive::ModelIr],
    kernels: &[ModelKernels],
    net: &Network,
    inputs: &[Vec<(f64, u32)>],
    dt: f64,
    scheme: crate::sema::hir::Scheme,
    backend: crate::sim::kernels::Backend,
    dir: &ResultsDir,
    progress: &mut dyn FnMut(f64),
) -> Result<crate::sim::event::Outcome, RunError> {
    let steps = models
        .iter()
        .enumerate()
        .map(|(mi, m)| {
            let params = p
                .populations
                .iter()
                .find(|q| q.model.index() == mi)
                .map_or_else(
                    || p.neurons[mi].params.iter().map(|q| q.default).collect(),
                    |q| q.params.clone(),
                );
            crate::sim::discrete::step_kernels(
                m,
                scheme,
                crate::ir::SurrogateFn::SuperSpike { beta: 80.0 },
                backend,
                &params,
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| RunError::Sim(e.0))?;
    // Stream the run: keep the spikes and the recorded traces only, not every state.
    let mut spikes = Vec::new();
    let traced: Vec<(usize, usize, usize)> = p
        .record
        .traces
        .iter()
        .map(|(pop, state)| {
            let n = kernels[p.populations[pop.index()].model.index()].n;
            (pop.index(), state.index(), n)
        })
        .collect();
    // values[r]: trace r, sample by sample, neuron by neuron.
    let samples = (p.simulation.t_max / dt).round() as usize + 1;
    let mut values: Vec<Vec<f64>> = traced
        .iter()
        .map(|&(pop, _, _)| Vec::with_capacity(samples * p.populations[pop].size))
        .collect();
    let mut sample = |x: &[Vec<f64>]| {
        for (v, &(pop, state, n)) in values.iter_mut().zip(&traced) {
            v.extend(x[pop].iter().skip(state).step_by(n));
        }
    };
    let (n_steps, _) = crate::sim::discrete::run_observed(
        p,
        kernels,
        &steps,
        net,
        inputs,
        dt,
        progress,
        &mut |o| match o {
            crate::sim::discrete::Observed::Start(x) => sample(x),
            crate::sim::discrete::Observed::Step { k, x, s, .. } => {
                for (pi, pop_s) in s.iter().enumerate() {
                    for (i, _) in crate::sim::discrete::nonzero(pop_s) {
                        spikes.push(crate::sim::event::SpikeRecord {
                            node: Node::Pop(crate::sema::hir::PopId(pi as u32)),
                            idx: i as u32,
                            t: (k + 1) as f64 * dt,
                        });
                    }
                }
                sample(x);
            }
        },
    );
    let times: Vec<f64> = (0..=n_steps).map(|k| k as f64 * dt).collect();
    write_traces(p, dir, &times, |r, k, i| {
        let size = p.populations[traced[r].0].size;
        values[r][k * size + i]
    })?;
    Ok(crate::sim::event::Outcome {
        spikes,
        limit_hits: vec![0; p.populations.len()],
        log: None,
    })
}

/// Writes `trace_POP_STATE.npy` (shape `(samples, size)`) for every recorded trace and
/// `trace_time.npy`; `value(r, k, i)` is trace `r` at sample `k` for neuron `i`.
fn write_traces(
    p: &Program,
    dir: &ResultsDir,
    times: &[f64],
    value: impl Fn(usize, usize, usize) -> f64,
) -> Result<(), RunError> {
    for (r, (pop, state)) in p.record.traces.iter().enumerate() {
        let q = &p.populations[pop.index()];
        let data: Vec<f64> = (0..times.len())
            .flat_map(|k| (0..q.size).map(move |i| (k, i)))
            .map(|(k, i)| value(r, k, i))
            .collect();
        let name = format!(
            "trace_{}_{}.npy",
            q.name,
            p.neurons[q.model.index()].states[state.index()].name
        );
        dir.write(&name, &npy_f64(&data, &[times.len(), q.size]))?;
    }
    if !p.record.traces.is_empty() {
        dir.write("trace_time.npy", &npy_f64(times, &[times.len()]))?;
    }
    Ok(())
}

/// Trains the program and writes metrics, weights, test spike times and the manifest.
pub fn train(
    p: &Program,
    opts: &RunOptions,
    progress: &mut dyn Progress,
) -> Result<Vec<EpochStats>, RunError> {
    let models = driver::lower(p);
    let kernels = models
        .iter()
        .map(|m| ModelKernels::new(m, opts.backend))
        .collect::<Result<Vec<ModelKernels>, _>>()
        .map_err(|e| RunError::Sim(e.to_string()))?;
    let tr = p
        .training
        .as_ref()
        .expect("train() is called for programs with a train section");
    let files = read_file_inputs(p, opts, Some(tr.data))?;
    let data_hash = files.hash;
    let mut trainer = Trainer::with_dataset(
        p,
        &kernels,
        opts.threads,
        &models,
        opts.backend,
        files.dataset,
    )
    .map_err(|e| RunError::Sim(e.to_string()))?;
    for (k, spikes) in files.trains {
        trainer.set_input(k, spikes);
    }
    if opts.chip {
        trainer = trainer
            .on_chip(crate::train::Chip {
                models: &models,
                source_text: &opts.source_text,
                backend: opts.backend,
            })
            .map_err(|e| RunError::Sim(e.to_string()))?;
    }
    let mut net = Network::build(p, tr.seed);
    if matches!(p.simulation.mode, Mode::Event { .. }) {
        EventEngine {
            forced: None,
            program: p,
            kernels: &kernels,
            network: &net,
            t_max: p.simulation.t_max,
            max_spikes: None,
        }
        .check_exact()
        .map_err(|e| RunError::Sim(e.to_string()))?;
    }
    let dir = ResultsDir::create(opts.out.clone())?;
    let shapes: Vec<usize> = net.projections.iter().map(|s| s.w.len()).collect();
    let mut opt = OptimState::new(&shapes);
    let mut stats: Vec<EpochStats> = Vec::new();
    let mut best = (f64::NEG_INFINITY, net.clone());
    let hash = hash_text(&format!(
        "{}\n{:?}{data_hash}",
        opts.source_text, opts.overrides
    ));
    dir.write("program.snn", opts.source_text.as_bytes())?;
    let base = std::path::absolute(&opts.base_dir).unwrap_or_else(|_| opts.base_dir.clone());
    dir.write(
        "source.json",
        serde_json::json!({"program": opts.source_name, "base_dir": base})
            .to_string()
            .as_bytes(),
    )?;
    dir.write(
        "overrides.json",
        serde_json::to_string(&opts.overrides)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    let mut first_epoch = 0;
    let mut csv = format!("{METRICS_HEADER}\n");
    // One array per projection, named `PRE_to_POST_K`, in one `.npz` per weight set.
    let write_weights = |dir: &ResultsDir, file: &str, net: &Network| -> Result<(), RunError> {
        let entries: Vec<(String, Vec<u8>)> = net
            .projections
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let name = projection_name(p, k)
                    .replace("weights:", "")
                    .replace("->", "_to_")
                    .replace('#', "_");
                (name, npy_f64(&s.dense(), &[s.n_pre, s.n_post]))
            })
            .collect();
        let npz = crate::npz::write_npz(&entries).map_err(RunError::Sim)?;
        Ok(dir.write(file, &npz)?)
    };
    if opts.resume {
        if let Some(cp) = load_checkpoint(&dir, &mut net, &mut opt, &mut best.1, &hash)? {
            first_epoch = cp.epochs_done;
            best.0 = cp.best_selection;
            csv = with_current_header(cp.metrics_csv);
            progress.line(&format!(
                "resuming after epoch {first_epoch} from {}",
                opts.out.display()
            ));
        }
    } else {
        let (acc0, loss0) = trainer
            .evaluate(&net, &trainer.test)
            .map_err(|e| RunError::Sim(e.to_string()))?;
        progress.line(&format!(
            "epoch   0: test accuracy {:.2} % (loss {loss0:.4}) before training",
            100.0 * acc0
        ));
    }
    for epoch in first_epoch..tr.epochs {
        let s = trainer
            .epoch_with(&mut net, &mut opt, epoch, &mut |b| progress.batch(epoch, b))
            .map_err(|e| RunError::Sim(e.to_string()))?;
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{}",
            s.epoch + 1,
            s.loss,
            s.train_accuracy,
            s.validation_accuracy,
            s.test_accuracy,
            s.seconds,
            s.spikes_per_sample,
            s.limit_hits,
            s.near_grazing,
            s.train_seconds
        );
        dir.write("metrics.csv", csv.as_bytes())?;
        progress.line(&format!(
            "epoch {:>3}: loss {:.4}  train {:.2} %  validation {:.2} %  test {:.2} %  {:.3} s (training {:.3} s)  {:.1} spikes/sample",
            s.epoch + 1,
            s.loss,
            100.0 * s.train_accuracy,
            100.0 * s.validation_accuracy,
            100.0 * s.test_accuracy,
            s.seconds,
            s.train_seconds,
            s.spikes_per_sample
        ));
        let selection = if s.validation_accuracy.is_nan() {
            s.train_accuracy
        } else {
            s.validation_accuracy
        };
        if selection > best.0 {
            best = (selection, net.clone());
            write_weights(&dir, "weights_best.npz", &net)?;
        }
        write_weights(&dir, "weights_final.npz", &net)?;
        for (k, b) in best.1.projections.iter().enumerate() {
            dir.write(
                &format!("checkpoint/best{k}.npy"),
                &npy_f64(&b.w, &[b.w.len()]),
            )?;
        }
        let cp = Checkpoint {
            epochs_done: epoch + 1,
            optimizer_step: opt.step,
            best_selection: best.0,
            metrics_csv: csv.clone(),
            program_hash: hash.clone(),
        };
        save_checkpoint(&dir, &net, &opt, &cp)?;
        stats.push(s);
    }
    // Test-set output spike times of the final network.
    let out_size = p.populations[tr.output.index()].size;
    let mut times = Vec::with_capacity(trainer.test.len() * out_size);
    let mut labels = Vec::with_capacity(trainer.test.len());
    for s in &trainer.test {
        times.extend(
            trainer
                .output_times(&net, s)
                .iter()
                .map(|t| if t.is_finite() { *t } else { f64::INFINITY }),
        );
        labels.push(s.label as i64);
    }
    dir.write(
        "test_output_times.npy",
        &npy_f64(&times, &[trainer.test.len(), out_size]),
    )?;
    dir.write("test_labels.npy", &npy_i64(&labels, &[labels.len()]))?;
    let test_spike_samples = write_test_details(p, &trainer, &net, &dir)?;
    let last = stats.last();
    let details = serde_json::json!({
        "epochs": tr.epochs,
        "batch": tr.batch,
        "final_test_accuracy": last.map(|s| s.test_accuracy),
        "best_validation_accuracy": best.0,
        "train_samples": trainer.train.len(),
        "test_samples": trainer.test.len(),
        "node_codes": node_names(p),
        "test_spike_samples": test_spike_samples,
        // Whether the modal fast path ran the network (`train.fast_path` and a network it
        // can run; single samples may still have gone to the engine).
        "fast_path": trainer.fast_path_applies(&net),
    });
    dir.write(
        "manifest.json",
        manifest(p, opts, tr.seed, "training", details).as_bytes(),
    )?;
    Ok(stats)
}

/// Writes what the figures of a training folder need beyond the output times, for the final
/// network: `test_predictions.npy` (the trainer's class per test sample, -1 for none),
/// `test_points.npy` (the Yin-Yang points, when the data is the built-in dataset) and every
/// spike of the first [`TEST_SPIKE_SAMPLES`] test samples (`test_spikes_*.npy`). Returns how
/// many samples' spikes were saved.
fn write_test_details(
    p: &Program,
    trainer: &Trainer,
    net: &Network,
    dir: &ResultsDir,
) -> Result<usize, RunError> {
    let predicted: Vec<i64> = trainer
        .predictions(net, &trainer.test)
        .map_err(|e| RunError::Sim(e.to_string()))?
        .iter()
        .map(|c| c.map_or(-1, |c| c as i64))
        .collect();
    dir.write(
        "test_predictions.npy",
        &npy_i64(&predicted, &[predicted.len()]),
    )?;
    if let Some(points) = &trainer.points {
        let xy: Vec<f64> = points.test.iter().flat_map(|(x, y)| [*x, *y]).collect();
        dir.write("test_points.npy", &npy_f64(&xy, &[points.test.len(), 2]))?;
    }
    let (mut sample, mut node, mut neuron, mut time) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let saved = trainer.test.len().min(TEST_SPIKE_SAMPLES);
    for (k, s) in trainer.test.iter().take(saved).enumerate() {
        for r in trainer.sample_spikes(net, s) {
            sample.push(k as i64);
            node.push(node_code(p, r.node) as i64);
            neuron.push(i64::from(r.idx));
            time.push(r.t);
        }
    }
    let n = time.len();
    dir.write("test_spikes_sample.npy", &npy_i64(&sample, &[n]))?;
    dir.write("test_spikes_node.npy", &npy_i64(&node, &[n]))?;
    dir.write("test_spikes_neuron.npy", &npy_i64(&neuron, &[n]))?;
    dir.write("test_spikes_time.npy", &npy_f64(&time, &[n]))?;
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::{METRICS_HEADER, with_current_header};

    /// A checkpoint's metrics from before `train_seconds` get the column, empty in old rows;
    /// today's metrics stay as they are.
    #[test]
    fn old_metrics_get_the_new_column() {
        let old_header = METRICS_HEADER.strip_suffix(",train_seconds").unwrap();
        let old = format!("{old_header}\n1,0.5,0.8,0.8,0.8,0.2,128,0,0\n");
        let new = with_current_header(old);
        assert_eq!(
            new,
            format!("{METRICS_HEADER}\n1,0.5,0.8,0.8,0.8,0.2,128,0,0,\n")
        );
        let columns = |l: &str| l.split(',').count();
        assert!(new.lines().all(|l| columns(l) == columns(METRICS_HEADER)));
        assert_eq!(with_current_header(new.clone()), new);
    }
}
