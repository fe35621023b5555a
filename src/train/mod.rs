//! Training: data, forward runs on the event engine, gradients, optimisation, epochs.
//!
//! One sample is one independent simulation, so a batch is spread over threads; per-sample
//! results are combined in sample order, which makes training bit-identical for any thread
//! count. Nothing here does IO: progress goes to a callback and results are returned.

pub mod analytic;
pub mod bptt;
mod crew;
pub mod data;
pub mod eventprop;
pub mod files;
pub mod loss;
pub mod optim;

use crate::sema::hir::{Gradient, InputId, InputKind, Mode, Node, PopId, Program, Training};
use crate::sim::event::{EventEngine, InputSpikes, SimError, SpikeRecord};
use crate::sim::kernels::ModelKernels;
use crate::sim::network::Network;
use crate::sim::rng::Rng;
use data::Sample;
use std::sync::atomic::{AtomicUsize, Ordering};

thread_local! {
    /// The loss's derivatives by spike time of the modal path's last sample, kept for the next.
    static DL_DT: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The output layer's lists of the last sample, kept for the next.
    static OUTPUTS: std::cell::RefCell<Outputs> = std::cell::RefCell::default();
}

/// One sample's output first spikes (time and spike id), their times alone, and the loss's
/// derivatives by them: buffers a thread keeps from sample to sample.
#[derive(Default)]
struct Outputs {
    firsts: Vec<(f64, Option<u32>)>,
    times: Vec<f64>,
    dl: Vec<f64>,
}

/// Samples a thread takes at a time.
const BLOCK: usize = 2;

/// Samples a thread of the epoch's crew takes at a time when it evaluates a whole set (forward
/// runs only): the last block leaves the other thread waiting once per set there, not once per
/// batch, so larger blocks cost nothing and a helper sends a quarter as many messages. The
/// results are taken in sample order either way.
const EVALUATION_BLOCK: usize = 8;

/// Results placed by their positions `0..n`, each of which occurs once.
fn in_order(done: Vec<(usize, SampleResult)>, n: usize) -> Vec<SampleResult> {
    let mut results: Vec<Option<SampleResult>> = Vec::new();
    results.resize_with(n, || None);
    for (k, r) in done {
        results[k] = Some(r);
    }
    results
        .into_iter()
        .map(|r| r.expect("every sample was run"))
        .collect()
}

/// Why training stopped early.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainError {
    Sim(SimError),
    /// A gradient or weight became NaN or infinite (`epoch` and `batch` counted from 0).
    NonFinite {
        epoch: usize,
        batch: usize,
        projection: String,
    },
    /// What this snnc cannot train yet, said plainly.
    Unsupported(String),
}

impl std::fmt::Display for TrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrainError::Sim(e) => e.fmt(f),
            TrainError::NonFinite {
                epoch,
                batch,
                projection,
            } => {
                // Counted from 1, as the progress lines and `metrics.csv` count epochs.
                write!(
                    f,
                    "a weight or gradient of projection `{projection}` became NaN or infinite in epoch {}, batch {}",
                    epoch + 1,
                    batch + 1
                )
            }
            TrainError::Unsupported(what) => f.write_str(what),
        }
    }
}

/// Running totals of the epoch so far, reported after each batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchProgress {
    pub samples_done: usize,
    pub samples_total: usize,
    pub loss: f64,
    pub accuracy: f64,
}

/// Metrics of one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochStats {
    pub epoch: usize,
    pub loss: f64,
    pub train_accuracy: f64,
    pub validation_accuracy: f64,
    pub test_accuracy: f64,
    /// Wall time of the whole epoch: training, then the evaluation of the validation and test
    /// sets.
    pub seconds: f64,
    /// Wall time of its training alone (shuffle and batches, up to the last optimiser step).
    pub train_seconds: f64,
    pub spikes_per_sample: f64,
    pub limit_hits: u64,
    pub near_grazing: u64,
}

/// The chip trial numbers of evaluation runs (sample `k` is trial `EVALUATION_TRIALS + k`),
/// apart from those of training batches.
const EVALUATION_TRIALS: u64 = 1 << 40;

/// What a forward (and optionally backward) pass of one sample gives.
struct SampleResult {
    loss: f64,
    /// The predicted class (`None`: no output spiked).
    prediction: Option<usize>,
    correct: bool,
    grads: Option<Vec<Vec<f64>>>,
    spikes: usize,
    silent_outputs: Silent,
    limit_hits: u64,
    near_grazing: u32,
}

/// Which outputs of one sample stayed silent (for weight bumping): a bit per output up to 64
/// of them, so that no list is allocated per sample (and freed by another thread); a list
/// beyond.
enum Silent {
    Bits(u64),
    List(Vec<bool>),
}

impl Silent {
    const NONE: Silent = Silent::Bits(0);

    /// The outputs whose first-spike time is not finite.
    fn of(times: &[f64]) -> Silent {
        if times.len() <= 64 {
            Silent::Bits(
                (times.iter().enumerate())
                    .fold(0, |bits, (k, t)| bits | u64::from(!t.is_finite()) << k),
            )
        } else {
            Silent::List(times.iter().map(|t| !t.is_finite()).collect())
        }
    }

    /// Marks the silent outputs in `silent` (one flag per output).
    fn mark(&self, silent: &mut [bool]) {
        match self {
            Silent::Bits(bits) => {
                for (k, s) in silent.iter_mut().enumerate().take(64) {
                    *s |= bits >> k & 1 == 1;
                }
            }
            Silent::List(list) => {
                for (s, r) in silent.iter_mut().zip(list) {
                    *s |= r;
                }
            }
        }
    }
}

/// Hardware in the loop: forward passes run on the BrainScaleS-2 mock (the configuration
/// compiled from the current weights, re-quantised every step); gradients come from the software
/// model replayed at the observed spike times (EventProp or analytic over the replay's log).
pub struct Chip<'a> {
    pub models: &'a [crate::ir::derive::ModelIr],
    pub source_text: &'a str,
    pub backend: crate::sim::kernels::Backend,
}

/// The training problem: program, kernels and data.
pub struct Trainer<'a> {
    pub program: &'a Program,
    pub training: &'a Training,
    pub kernels: &'a [ModelKernels],
    pub train: Vec<Sample>,
    pub validation: Vec<Sample>,
    pub test: Vec<Sample>,
    /// The points the samples encode, for the built-in Yin-Yang dataset.
    pub points: Option<data::Points>,
    pub threads: usize,
    /// The spike trains of every input that are the same in every sample (Poisson, regular,
    /// file inputs that are not the data); the data input's entry is replaced per sample.
    fixed_inputs: InputSpikes,
    /// Time-discrete training: the spiking step kernels per model and `dt`.
    discrete: Option<(Vec<crate::sim::discrete::StepKernels>, f64)>,
    /// Analytic first-spike gradients: the populations in layer order.
    analytic: Option<Vec<usize>>,
    chip: Option<Chip<'a>>,
    /// Use the modal fast path (`sim::modal`) for the samples it can run; the event engine
    /// otherwise. Set from the program's `train.fast_path` (default true).
    pub modal: bool,
    /// The last configured chip, whose kernels the next configuration reuses.
    last_chip: std::sync::Mutex<Option<crate::bss2::mock::Mock>>,
    /// Gradient buffers of summed samples, for the next samples of the modal path to fill
    /// (thousands of samples an epoch would otherwise each allocate one).
    spare_grads: std::sync::Mutex<Vec<Vec<Vec<f64>>>>,
}

impl<'a> Trainer<'a> {
    /// `models` and `backend` are needed for time-discrete training (the spiking steps).
    pub fn new(
        program: &'a Program,
        kernels: &'a [ModelKernels],
        threads: usize,
    ) -> Result<Trainer<'a>, TrainError> {
        Self::with_models(
            program,
            kernels,
            threads,
            &[],
            crate::sim::kernels::Backend::Interp,
        )
    }

    /// A trainer on the program's built-in dataset (`yinyang`).
    pub fn with_models(
        program: &'a Program,
        kernels: &'a [ModelKernels],
        threads: usize,
        models: &[crate::ir::derive::ModelIr],
        backend: crate::sim::kernels::Backend,
    ) -> Result<Trainer<'a>, TrainError> {
        Self::with_dataset(program, kernels, threads, models, backend, None)
    }

    /// A trainer on `data` (read from a `file` input by the runner), or on the program's
    /// built-in dataset if `data` is `None`.
    pub fn with_dataset(
        program: &'a Program,
        kernels: &'a [ModelKernels],
        threads: usize,
        models: &[crate::ir::derive::ModelIr],
        backend: crate::sim::kernels::Backend,
        data: Option<data::Dataset>,
    ) -> Result<Trainer<'a>, TrainError> {
        let training = program
            .training
            .as_ref()
            .ok_or_else(|| TrainError::Unsupported("the program has no train section".into()))?;
        let mut analytic = None;
        let discrete = match (&training.gradient, &program.simulation.mode) {
            (Gradient::EventProp, Mode::Event { .. }) => None,
            (Gradient::Analytic, Mode::Event { .. }) => {
                analytic = Some(crate::sim::network::layer_order(program).ok_or_else(|| {
                    TrainError::Unsupported("`gradient analytic` needs a feed-forward network (no recurrent projections); use `gradient eventprop`".into())
                })?);
                None
            }
            (Gradient::Surrogate(sg), Mode::Discrete { dt, scheme }) => {
                let surrogate = match *sg {
                    crate::sema::hir::Surrogate::SuperSpike { beta } => {
                        crate::ir::SurrogateFn::SuperSpike { beta }
                    }
                    crate::sema::hir::Surrogate::Sigmoid { beta } => {
                        crate::ir::SurrogateFn::Sigmoid { beta }
                    }
                };
                if models.len() != kernels.len() {
                    return Err(TrainError::Unsupported(
                        "time-discrete training needs the model IR (use Trainer::with_models)"
                            .into(),
                    ));
                }
                let steps = models
                    .iter()
                    .enumerate()
                    .map(|(mi, m)| {
                        let params = program
                            .populations
                            .iter()
                            .find(|p| p.model.index() == mi)
                            .map_or_else(
                                || {
                                    program.neurons[mi]
                                        .params
                                        .iter()
                                        .map(|p| p.default)
                                        .collect()
                                },
                                |p| p.params.clone(),
                            );
                        crate::sim::discrete::step_kernels(m, *scheme, surrogate, backend, &params)
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| TrainError::Unsupported(e.0))?;
                Some((steps, *dt))
            }
            _ => {
                return Err(TrainError::Unsupported(
                    "this gradient method does not fit the simulation mode".into(),
                ));
            }
        };
        let data = match (data, &program.inputs[training.data.index()].kind) {
            (Some(d), _) => d,
            (None, InputKind::YinYang(cfg)) => data::Dataset::yinyang(cfg),
            (None, _) => {
                return Err(TrainError::Unsupported(
                    "the data of a `file` input must be read first (the runner does)".into(),
                ));
            }
        };
        Ok(Trainer {
            program,
            training,
            kernels,
            train: data.train,
            validation: data.validation,
            test: data.test,
            points: data.points,
            threads: threads.max(1),
            fixed_inputs: crate::sim::inputs::generate(
                program,
                training.seed,
                program.simulation.t_max,
            ),
            discrete,
            analytic,
            chip: None,
            modal: training.fast_path,
            last_chip: std::sync::Mutex::new(None),
            spare_grads: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Runs forward passes on the BrainScaleS-2 mock (hardware in the loop).
    pub fn on_chip(mut self, chip: Chip<'a>) -> Result<Trainer<'a>, TrainError> {
        if self.discrete.is_some() {
            return Err(TrainError::Unsupported(
                "training on the BSS-2 mock needs `mode event` with `gradient eventprop` or `analytic`".into(),
            ));
        }
        self.chip = Some(chip);
        Ok(self)
    }

    /// The chip configured with the current weights, when training in the loop.
    fn configure(&self, net: &Network) -> Result<Option<crate::bss2::mock::Mock>, TrainError> {
        let Some(chip) = &self.chip else {
            return Ok(None);
        };
        let hw = self
            .program
            .hardware
            .clone()
            .unwrap_or_else(|| crate::bss2::default_hardware(self.program));
        let opts = crate::bss2::Options {
            seed: self.training.seed,
            program_hash: "",
            batch_size: self.training.batch as u64,
        };
        let compiled =
            crate::bss2::compile(self.program, chip.models, net, &opts).map_err(|e| {
                TrainError::Unsupported(format!(
                    "the current weights cannot be compiled for BrainScaleS-2: {}",
                    e.first()
                        .map_or(String::new(), |e| e.to_diagnostic().message)
                ))
            })?;
        let mut last = self.last_chip.lock().unwrap_or_else(|e| e.into_inner());
        let mock = match last.as_ref() {
            Some(m) => m.reconfigure(&compiled.config, chip.backend),
            None => crate::bss2::mock::Mock::new(&compiled.config, &hw.mock, chip.backend),
        }
        .map_err(|e| TrainError::Unsupported(e.to_string()))?;
        *last = Some(mock.clone());
        Ok(Some(mock))
    }

    /// Sets the spike trains of a non-data input (a `file` input read by the runner), the same
    /// in every sample.
    pub fn set_input(&mut self, input: crate::sema::hir::InputId, spikes: Vec<(f64, u32)>) {
        self.fixed_inputs[input.index()] = spikes;
    }

    fn engine<'n>(&'n self, net: &'n Network) -> EventEngine<'n> {
        let max_spikes = match self.program.simulation.mode {
            Mode::Event {
                max_spikes_per_neuron,
            } => max_spikes_per_neuron,
            Mode::Discrete { .. } => None,
        };
        EventEngine {
            forced: None,
            program: self.program,
            kernels: self.kernels,
            network: net,
            t_max: self.program.simulation.t_max,
            max_spikes,
        }
    }

    /// Whether samples on `net` run on the modal fast path (enabled and the network in its
    /// scope; a sample in which a neuron spikes twice still goes to the engine).
    pub fn fast_path_applies(&self, net: &Network) -> bool {
        self.plan(net).is_some()
    }

    /// The modal fast path for `net`, where it applies (exact gradients in software on a
    /// feed-forward network it can run).
    fn plan<'n>(&'n self, net: &'n Network) -> Option<crate::sim::modal::Plan<'n>> {
        if !self.modal || self.discrete.is_some() || self.chip.is_some() {
            return None;
        }
        let engine = self.engine(net);
        crate::sim::modal::Plan::new(
            self.program,
            self.kernels,
            net,
            engine.t_max,
            engine.max_spikes,
        )
    }

    /// The input spike trains of one sample (data input encoded, other inputs generated).
    pub fn sample_inputs(&self, s: &Sample) -> InputSpikes {
        self.inputs(s)
    }

    /// The inputs of one sample as [`Trainer::inputs`] gives them, borrowed instead of copied.
    fn input_views<'s>(&'s self, s: &'s Sample) -> Vec<&'s [(f64, u32)]> {
        let data = self.training.data.index();
        self.fixed_inputs
            .iter()
            .enumerate()
            .map(|(k, spikes)| {
                if k == data {
                    &s.spikes[..]
                } else {
                    &spikes[..]
                }
            })
            .collect()
    }

    fn inputs(&self, s: &Sample) -> InputSpikes {
        let mut inputs = self.fixed_inputs.clone();
        inputs[self.training.data.index()] = s.spikes.clone();
        inputs
    }

    /// Output first-spike times of one sample (forward only).
    pub fn output_times(&self, net: &Network, s: &Sample) -> Vec<f64> {
        let out_pop = self.training.output.index();
        let size = self.program.populations[out_pop].size;
        if let Some((steps, dt)) = &self.discrete {
            let run = crate::sim::discrete::run(
                self.program,
                self.kernels,
                steps,
                net,
                &self.inputs(s),
                *dt,
            );
            return (0..size)
                .map(|i| {
                    run.s[out_pop]
                        .iter()
                        .position(|row| row[i] != 0.0)
                        .map_or(f64::INFINITY, |k| (k + 1) as f64 * dt)
                })
                .collect();
        }
        let inputs = self.inputs(s);
        let outcome = match self.plan(net).and_then(|p| p.run(&inputs)) {
            Some(run) => run.into_outcome(),
            None => self.engine(net).run(&inputs, false),
        };
        outcome
            .first_spikes(out_pop, size)
            .iter()
            .map(|(t, _)| *t)
            .collect()
    }

    fn sample(
        &self,
        net: &Network,
        s: &Sample,
        with_grad: bool,
        chip: Option<&crate::bss2::mock::Mock>,
        plan: Option<&crate::sim::modal::Plan>,
        trial: u64,
    ) -> SampleResult {
        if let Some((steps, dt)) = &self.discrete {
            let run = crate::sim::discrete::run(
                self.program,
                self.kernels,
                steps,
                net,
                &self.inputs(s),
                *dt,
            );
            let l = bptt::loss(
                self.program,
                self.training,
                steps,
                self.kernels,
                &run,
                s.label,
            );
            let grads = with_grad
                .then(|| bptt::backward(self.program, self.kernels, steps, net, &run, &l, *dt));
            let spikes = run
                .s
                .iter()
                .flatten()
                .flatten()
                .filter(|v| **v != 0.0)
                .count();
            return SampleResult {
                loss: l.value,
                prediction: Some(l.prediction),
                correct: l.prediction == s.label,
                grads,
                spikes,
                silent_outputs: Silent::NONE,
                limit_hits: 0,
                near_grazing: 0,
            };
        }
        let out_pop = self.training.output.index();
        let size = self.program.populations[out_pop].size;
        let observed: Option<Vec<Vec<Vec<f64>>>> = chip.map(|mock| {
            mock.run(&self.inputs(s), trial)
                .iter()
                .map(|pop| {
                    pop.iter()
                        .map(|ts| ts.iter().map(|c| mock.to_model_time(*c)).collect())
                        .collect()
                })
                .collect()
        });
        let fast = match (plan, &observed) {
            // (The data alone, the common case, without a list to allocate.)
            (Some(p), None) if self.fixed_inputs.len() == 1 => {
                p.run(&[&s.spikes[..]]).map(|r| (p, r))
            }
            (Some(p), None) => p.run(&self.input_views(s)).map(|r| (p, r)),
            _ => None,
        };
        let slow;
        let outcome = match &fast {
            Some((_, r)) => &r.outcome,
            None => {
                let mut engine = self.engine(net);
                engine.forced = observed.as_deref();
                slow = engine.run(&self.inputs(s), with_grad);
                &slow
            }
        };
        let mut outputs = OUTPUTS.take();
        let Outputs { firsts, times, dl } = &mut outputs;
        match &fast {
            Some((_, r)) => r.first_spikes_into(out_pop, firsts),
            None => *firsts = outcome.first_spikes(out_pop, size),
        }
        times.clear();
        times.extend(firsts.iter().map(|(t, _)| *t));
        let value = loss::first_spike_loss_into(
            &self.training.loss,
            times,
            s.label,
            self.program.simulation.t_max,
            dl,
        );
        let prediction = loss::predict(times);
        let correct = prediction == Some(s.label);
        let mut near_grazing = 0;
        let grads = with_grad.then(|| {
            // The loss's derivative by the time of each spike (by id), into `dl_dt`.
            let by_spike = |dl_dt: &mut Vec<f64>| {
                dl_dt.clear();
                dl_dt.resize(outcome.spikes.len(), 0.0);
                for ((_, id), g) in firsts.iter().zip(dl.iter()) {
                    if let Some(id) = id {
                        dl_dt[*id as usize] = *g;
                    }
                }
            };
            if let Some((p, r)) = &fast {
                let mut weights = self.spare_grads.lock().ok().and_then(|mut v| v.pop());
                let weights = weights.get_or_insert_default();
                DL_DT.with_borrow_mut(|dl_dt| {
                    by_spike(dl_dt);
                    near_grazing = p.backward_into(r, dl_dt, weights);
                });
                return std::mem::take(weights);
            }
            let mut dl_dt = Vec::new();
            by_spike(&mut dl_dt);
            if let Some(order) = &self.analytic {
                return analytic::backward(self.program, self.kernels, net, outcome, &dl_dt, order);
            }
            let g = eventprop::backward(
                self.program,
                self.kernels,
                net,
                outcome,
                &dl_dt,
                self.program.simulation.t_max,
            );
            near_grazing = g.near_grazing;
            g.weights
        });
        let result = SampleResult {
            loss: value,
            prediction,
            correct,
            grads,
            spikes: outcome.spikes.len(),
            silent_outputs: Silent::of(times),
            limit_hits: outcome.limit_hits.iter().sum(),
            near_grazing,
        };
        OUTPUTS.set(outputs);
        result
    }

    /// Loss of one sample and its exact gradient by every weight (EventProp on the event engine,
    /// or on the modal path the first-spike gradient, which equals it there).
    pub fn loss_and_gradient(&self, net: &Network, s: &Sample) -> (f64, Vec<Vec<f64>>) {
        let r = self.sample(net, s, true, None, self.plan(net).as_ref(), 0);
        (r.loss, r.grads.expect("computed with gradients"))
    }

    /// Loss of one sample (forward only).
    pub fn loss(&self, net: &Network, s: &Sample) -> f64 {
        self.sample(net, s, false, None, self.plan(net).as_ref(), 0)
            .loss
    }

    /// Runs the samples on `self.threads` threads (the calling one included), which take blocks
    /// of a few samples in turn so that none waits while another has work left; results in
    /// sample order. On the chip, sample `k` is trial `trials + k` (its trial-to-trial noise),
    /// whatever the threads. The threads last one call; an epoch's batches share a
    /// [`crew::Crew`] instead.
    fn parallel(
        &self,
        net: &Network,
        samples: &[&Sample],
        with_grad: bool,
        trials: u64,
    ) -> Result<Vec<SampleResult>, TrainError> {
        let chip = self.configure(net)?;
        let plan = self.plan(net);
        let next = AtomicUsize::new(0);
        let work = || {
            self.take_blocks(
                net,
                samples,
                &next,
                with_grad,
                chip.as_ref(),
                plan.as_ref(),
                trials,
            )
        };
        let helpers = self
            .threads
            .min(samples.len().div_ceil(BLOCK))
            .saturating_sub(1);
        let mut done = Vec::with_capacity(samples.len());
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..helpers).map(|_| scope.spawn(work)).collect();
            done.extend(work());
            for h in handles {
                done.extend(h.join().expect("a training thread panicked"));
            }
        });
        Ok(in_order(done, samples.len()))
    }

    /// Runs blocks of `BLOCK` samples, claimed through `next`, until none is left; the results
    /// with their positions in `samples`. Every thread working on one call of
    /// [`Trainer::parallel`] runs this.
    #[allow(clippy::too_many_arguments)]
    fn take_blocks(
        &self,
        net: &Network,
        samples: &[&Sample],
        next: &AtomicUsize,
        with_grad: bool,
        chip: Option<&crate::bss2::mock::Mock>,
        plan: Option<&crate::sim::modal::Plan>,
        trials: u64,
    ) -> Vec<(usize, SampleResult)> {
        let mut done = Vec::new();
        loop {
            let start = next.fetch_add(BLOCK, Ordering::Relaxed);
            if start >= samples.len() {
                return done;
            }
            let block = &samples[start..samples.len().min(start + BLOCK)];
            done.extend(self.run_block(net, block, start, with_grad, chip, plan, trials));
        }
    }

    /// The results of `block`, the samples at positions `start..` of their batch or set, with
    /// those positions (on the chip, sample `k` is trial `trials + k`).
    #[allow(clippy::too_many_arguments)]
    fn run_block(
        &self,
        net: &Network,
        block: &[&Sample],
        start: usize,
        with_grad: bool,
        chip: Option<&crate::bss2::mock::Mock>,
        plan: Option<&crate::sim::modal::Plan>,
        trials: u64,
    ) -> Vec<(usize, SampleResult)> {
        (start..)
            .zip(block)
            .map(|(k, s)| {
                let trial = trials.wrapping_add(k as u64);
                (k, self.sample(net, s, with_grad, chip, plan, trial))
            })
            .collect()
    }

    /// Accuracy and mean loss on a set (forward only).
    pub fn evaluate(&self, net: &Network, set: &[Sample]) -> Result<(f64, f64), TrainError> {
        if set.is_empty() {
            return Ok((f64::NAN, f64::NAN));
        }
        let refs: Vec<&Sample> = set.iter().collect();
        let results = self.parallel(net, &refs, false, EVALUATION_TRIALS)?;
        let acc = results.iter().filter(|r| r.correct).count() as f64 / set.len() as f64;
        let loss = results.iter().map(|r| r.loss).sum::<f64>() / set.len() as f64;
        Ok((acc, loss))
    }

    /// The class predicted for every sample of `set` (`None`: no output spiked), the same
    /// predictions (and on the chip the same trials) that [`Trainer::evaluate`] counts.
    pub fn predictions(
        &self,
        net: &Network,
        set: &[Sample],
    ) -> Result<Vec<Option<usize>>, TrainError> {
        let refs: Vec<&Sample> = set.iter().collect();
        let results = self.parallel(net, &refs, false, EVALUATION_TRIALS)?;
        Ok(results.iter().map(|r| r.prediction).collect())
    }

    /// Every spike of one sample's forward run in software, inputs first (input by input, in
    /// time order up to `t_max`), then the neurons': in event mode the engine's spikes, in
    /// discrete mode each spike at the end of its step, `(k + 1) dt`, by step, population and
    /// neuron.
    pub fn sample_spikes(&self, net: &Network, s: &Sample) -> Vec<SpikeRecord> {
        let inputs = self.inputs(s);
        let Some((steps, dt)) = &self.discrete else {
            return self.engine(net).run(&inputs, false).spikes;
        };
        let t_max = self.program.simulation.t_max;
        let mut out: Vec<SpikeRecord> = Vec::new();
        for (k, train) in inputs.iter().enumerate() {
            let mut train: Vec<(f64, u32)> =
                train.iter().copied().filter(|(t, _)| *t <= t_max).collect();
            train.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            out.extend(train.into_iter().map(|(t, idx)| SpikeRecord {
                node: Node::Input(InputId(k as u32)),
                idx,
                t,
            }));
        }
        let run = crate::sim::discrete::run(self.program, self.kernels, steps, net, &inputs, *dt);
        for step in 0..run.steps {
            for (pop, s) in run.s.iter().enumerate() {
                for (i, v) in s[step].iter().enumerate() {
                    if *v != 0.0 {
                        out.push(SpikeRecord {
                            node: Node::Pop(PopId(pop as u32)),
                            idx: i as u32,
                            t: (step + 1) as f64 * dt,
                        });
                    }
                }
            }
        }
        out
    }

    /// Trains one epoch in place; returns its statistics.
    pub fn epoch(
        &self,
        net: &mut Network,
        opt: &mut optim::OptimState,
        epoch: usize,
    ) -> Result<EpochStats, TrainError> {
        self.epoch_with(net, opt, epoch, &mut |_| {})
    }

    /// [`Trainer::epoch`], reporting after every batch.
    pub fn epoch_with(
        &self,
        net: &mut Network,
        opt: &mut optim::OptimState,
        epoch: usize,
        on_batch: &mut dyn FnMut(BatchProgress),
    ) -> Result<EpochStats, TrainError> {
        let start = std::time::Instant::now();
        let tr = self.training;
        let mut order: Vec<usize> = (0..self.train.len()).collect();
        Rng::stream(tr.seed, &format!("shuffle:{epoch}")).shuffle(&mut order);
        let masks: Vec<Vec<bool>> = net
            .projections
            .iter()
            .map(|s| vec![s.plastic; s.w.len()])
            .collect();
        let lr_scale = tr.lr_decay.powi(epoch as i32);
        let mut done = 0usize;
        let (mut loss_sum, mut correct, mut spikes, mut limit_hits, mut grazing) =
            (0.0, 0usize, 0usize, 0u64, 0u64);
        // The helper threads stay for the epoch's batches and its evaluation.
        let mut train_seconds = 0.0;
        let (val_acc, test_acc) = std::thread::scope(|scope| {
            let crew = crew::Crew::start(scope, self, net, self.threads - 1);
            for (b, batch) in order.chunks(tr.batch).enumerate() {
                let trials = ((epoch as u64) << 24) + (b as u64) * (tr.batch as u64);
                let mut grads: Vec<Vec<f64>> = net
                    .projections
                    .iter()
                    .map(|s| vec![0.0; s.w.len()])
                    .collect();
                let mut silent = vec![false; self.program.populations[tr.output.index()].size];
                // Each result as it comes, in sample order (the sums are the same whichever
                // thread ran which sample); its gradient buffer then goes back to the pool.
                let mut spare = Vec::new();
                crew.run(self, net, batch, trials, &mut |r| {
                    done += 1;
                    loss_sum += r.loss;
                    correct += usize::from(r.correct);
                    spikes += r.spikes;
                    limit_hits += r.limit_hits;
                    grazing += r.near_grazing as u64;
                    let g = r.grads.expect("computed with gradients");
                    for (acc, g) in grads.iter_mut().zip(&g) {
                        for (a, v) in acc.iter_mut().zip(g) {
                            *a += v;
                        }
                    }
                    spare.push(g);
                    r.silent_outputs.mark(&mut silent);
                })?;
                if let Ok(mut pool) = self.spare_grads.lock() {
                    pool.append(&mut spare);
                    pool.truncate(batch.len());
                }
                let scale = 1.0 / batch.len() as f64;
                grads.iter_mut().flatten().for_each(|g| *g *= scale);
                let mut weights: Vec<Vec<f64>> =
                    net.projections.iter().map(|s| s.w.clone()).collect();
                optim::update(
                    &tr.optimizer,
                    opt,
                    &mut weights,
                    &grads,
                    lr_scale,
                    tr.clip,
                    &masks,
                );
                if let Some(bump) = tr.weight_bump {
                    for (k, s) in net.projections.iter().enumerate() {
                        if s.post == tr.output.index() && s.plastic {
                            for (j, was_silent) in silent.iter().enumerate() {
                                if *was_silent {
                                    for i in 0..s.n_pre {
                                        if let Some(idx) = s.index(i, j) {
                                            weights[k][idx] += bump;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                for (k, (s, w)) in net.projections.iter_mut().zip(weights).enumerate() {
                    if w.iter().any(|v| !v.is_finite()) {
                        return Err(TrainError::NonFinite {
                            epoch,
                            batch: b,
                            projection: crate::sim::network::projection_name(self.program, k),
                        });
                    }
                    s.w = w;
                }
                on_batch(BatchProgress {
                    samples_done: done,
                    samples_total: self.train.len(),
                    loss: loss_sum / done as f64,
                    accuracy: correct as f64 / done as f64,
                });
            }
            train_seconds = start.elapsed().as_secs_f64();
            // The evaluation on the same threads (as `Trainer::evaluate` gives it).
            let (validation, _) = crew.evaluate(self, net, crew::Set::Validation)?;
            let (test, _) = crew.evaluate(self, net, crew::Set::Test)?;
            Ok::<_, TrainError>((validation, test))
        })?;
        let n = self.train.len() as f64;
        Ok(EpochStats {
            epoch,
            loss: loss_sum / n,
            train_accuracy: correct as f64 / n,
            validation_accuracy: val_acc,
            test_accuracy: test_acc,
            seconds: start.elapsed().as_secs_f64(),
            train_seconds,
            spikes_per_sample: spikes as f64 / n,
            limit_hits,
            near_grazing: grazing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Silent;

    /// The bits and the list mark the same outputs as the times say, and only add marks.
    #[test]
    fn silent_outputs_are_marked_as_their_times_say() {
        for n in [3, 64, 65, 130] {
            let times: Vec<f64> = (0..n)
                .map(|k| if k % 3 == 1 { f64::INFINITY } else { k as f64 })
                .collect();
            let silent = Silent::of(&times);
            assert_eq!(matches!(silent, Silent::Bits(_)), n <= 64);
            let mut marks = vec![false; n];
            marks[0] = true;
            silent.mark(&mut marks);
            for (k, m) in marks.iter().enumerate() {
                assert_eq!(*m, k == 0 || k % 3 == 1, "output {k} of {n}");
            }
        }
        let mut marks = vec![false; 3];
        Silent::NONE.mark(&mut marks);
        assert_eq!(marks, [false; 3]);
    }
}
