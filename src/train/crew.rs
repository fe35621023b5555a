//! Helper threads kept for a whole epoch, so that its batches do not each spawn and join
//! threads (about 60 µs a time on the 2-core machines, 79 times in a Yin-Yang epoch) and the
//! helpers keep their buffers warm. Each helper has its own copy of the network and takes the
//! batch's weights with the task; it claims blocks of the batch through the same counter as the
//! calling thread, and sends each block's results back as soon as it has run it. The calling
//! thread hands the results on in sample order as soon as they are there, between its own
//! blocks, so that summing a batch's gradients (about half a megabyte, half of it from the
//! other processor's cache) overlaps the helpers' work instead of following it; whichever
//! thread ran which sample, the results arrive in the same order.
//!
//! The same helpers run the epoch's evaluation of the validation and test sets (forward runs
//! only), so that it neither spawns threads nor starts them with cold buffers.
//!
//! What it does not do: anything but the samples' forward (and backward) runs (the optimiser
//! step and the statistics stay with the caller).

use super::data::Sample;
use super::{BLOCK, EVALUATION_BLOCK, SampleResult, TrainError, Trainer};
use crate::sim::network::Network;
use crate::sim::spin::receive;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::Scope;

/// Which of the trainer's sets a task's samples come from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Set {
    Train,
    Validation,
    Test,
}

impl Set {
    fn samples<'t>(self, trainer: &'t Trainer) -> &'t [Sample] {
        match self {
            Set::Train => &trainer.train,
            Set::Validation => &trainer.validation,
            Set::Test => &trainer.test,
        }
    }
}

/// One batch for one helper.
struct Task {
    weights: Arc<Vec<Vec<f64>>>,
    set: Set,
    /// Positions of the batch's samples in `set`.
    batch: Arc<Vec<usize>>,
    next: Arc<AtomicUsize>,
    trials: u64,
    /// Training runs (with gradients) or evaluation runs (forward only).
    with_grad: bool,
}

/// A helper's message: the results of a block it ran (by position in the batch), or that it
/// has no more blocks to run (with the error that stopped it, if any).
enum Reply {
    Block(Vec<(usize, SampleResult)>),
    Done(Result<(), TrainError>),
}

/// The helpers of one epoch; they stop when it is dropped.
pub(super) struct Crew {
    helpers: Vec<(Sender<Task>, Receiver<Reply>)>,
    /// Whether threads spin for messages: only when each has a processor of its own (spinning
    /// threads would take time from working ones otherwise).
    spin: bool,
}

impl Crew {
    /// Starts `helpers` threads in `scope`, each with a copy of `net` (its weights are replaced
    /// with every task).
    pub(super) fn start<'scope, 'env>(
        scope: &'scope Scope<'scope, 'env>,
        trainer: &'env Trainer<'env>,
        net: &Network,
        helpers: usize,
    ) -> Crew {
        let processors = std::thread::available_parallelism().map_or(1, |n| n.get());
        let spin = helpers < processors;
        let helpers = (0..helpers)
            .map(|_| {
                let (task_tx, tasks) = channel::<Task>();
                let (replies, reply_rx) = channel::<Reply>();
                let mut net = net.clone();
                scope.spawn(move || {
                    while let Ok(task) = receive(&tasks, spin) {
                        for (s, w) in net.projections.iter_mut().zip(task.weights.iter()) {
                            s.w.clone_from(w);
                        }
                        let set = task.set.samples(trainer);
                        let samples: Vec<&Sample> = task.batch.iter().map(|&i| &set[i]).collect();
                        let share = (task.trials, task.with_grad);
                        let done = trainer.run_share(&net, &samples, &task.next, share, |b| {
                            // A failed send means the epoch is over.
                            let _ = replies.send(Reply::Block(b));
                        });
                        if replies.send(Reply::Done(done)).is_err() {
                            return;
                        }
                    }
                });
                (task_tx, reply_rx)
            })
            .collect();
        Crew { helpers, spin }
    }

    /// Forward and backward runs of the training samples at positions `batch`, on the calling
    /// thread and the helpers; each result goes to `take` in batch order, on the calling
    /// thread, as soon as it and those before it are there. On the chip, sample `k` of the
    /// batch is trial `trials + k`. After an error, `take` may have seen some of the results.
    pub(super) fn run(
        &self,
        trainer: &Trainer,
        net: &Network,
        batch: &[usize],
        trials: u64,
        take: &mut dyn FnMut(SampleResult),
    ) -> Result<(), TrainError> {
        self.share(trainer, net, (Set::Train, batch), (trials, true), take)
    }

    /// Accuracy and mean loss on `set` (forward runs only), as `Trainer::evaluate` gives them.
    pub(super) fn evaluate(
        &self,
        trainer: &Trainer,
        net: &Network,
        set: Set,
    ) -> Result<(f64, f64), TrainError> {
        let n = set.samples(trainer).len();
        if n == 0 {
            return Ok((f64::NAN, f64::NAN));
        }
        let all: Vec<usize> = (0..n).collect();
        let (mut correct, mut loss) = (0usize, 0.0);
        let trials = (super::EVALUATION_TRIALS, false);
        self.share(trainer, net, (set, &all), trials, &mut |r| {
            correct += usize::from(r.correct);
            loss += r.loss;
        })?;
        Ok((correct as f64 / n as f64, loss / n as f64))
    }

    /// The samples at positions `batch` of `set` on the calling thread and the helpers, with
    /// gradients or not (`(trials, with_grad)`), results to `take` in order (see
    /// [`Crew::run`]).
    fn share(
        &self,
        trainer: &Trainer,
        net: &Network,
        (set, batch): (Set, &[usize]),
        (trials, with_grad): (u64, bool),
        take: &mut dyn FnMut(SampleResult),
    ) -> Result<(), TrainError> {
        let samples: Vec<&Sample> = {
            let all = set.samples(trainer);
            batch.iter().map(|&i| &all[i]).collect()
        };
        let busy = self.helpers.len().min(
            samples
                .len()
                .div_ceil(block_size(with_grad))
                .saturating_sub(1),
        );
        let next = Arc::new(AtomicUsize::new(0));
        if busy > 0 {
            let weights = Arc::new(net.projections.iter().map(|s| s.w.clone()).collect());
            let shared = Arc::new(batch.to_vec());
            for (tasks, _) in &self.helpers[..busy] {
                tasks
                    .send(Task {
                        weights: Arc::clone(&weights),
                        set,
                        batch: Arc::clone(&shared),
                        next: Arc::clone(&next),
                        trials,
                        with_grad,
                    })
                    .expect("a training thread panicked");
            }
        }
        let mut order = InOrder::new(samples.len(), busy);
        let mine = trainer.run_share(net, &samples, &next, (trials, with_grad), |b| {
            order.add(b, take);
            // What the helpers have sent meanwhile.
            for (h, (_, replies)) in self.helpers[..busy].iter().enumerate() {
                while let Ok(reply) = replies.try_recv() {
                    order.file(h, reply, take);
                }
            }
        });
        // Every helper's messages are taken up to its last, even after an error, so that none
        // is left for the next batch.
        for (h, (_, replies)) in self.helpers[..busy].iter().enumerate() {
            while !order.finished[h] {
                let reply = receive(replies, self.spin).expect("a training thread panicked");
                order.file(h, reply, take);
            }
        }
        match mine.err().or(order.error) {
            Some(e) => Err(e),
            None => {
                debug_assert_eq!(order.next, order.held.len());
                Ok(())
            }
        }
    }
}

/// Samples per claim: a training batch's blocks are small so that its end keeps both threads
/// busy; a set's evaluation takes larger ones.
fn block_size(with_grad: bool) -> usize {
    if with_grad { BLOCK } else { EVALUATION_BLOCK }
}

/// A batch's results, held until those before them have arrived and then handed on in order;
/// and which helpers have sent their last message, the first error among them.
struct InOrder {
    held: Vec<Option<SampleResult>>,
    next: usize,
    finished: Vec<bool>,
    error: Option<TrainError>,
}

impl InOrder {
    fn new(n: usize, helpers: usize) -> InOrder {
        let mut held = Vec::new();
        held.resize_with(n, || None);
        InOrder {
            held,
            next: 0,
            finished: vec![false; helpers],
            error: None,
        }
    }

    /// Holds `block` (results by position) and hands on every result now in order.
    fn add(&mut self, block: Vec<(usize, SampleResult)>, take: &mut dyn FnMut(SampleResult)) {
        for (k, r) in block {
            self.held[k] = Some(r);
        }
        while let Some(r) = self.held.get_mut(self.next).and_then(Option::take) {
            take(r);
            self.next += 1;
        }
    }

    /// A message of helper `h`.
    fn file(&mut self, h: usize, reply: Reply, take: &mut dyn FnMut(SampleResult)) {
        match reply {
            Reply::Block(b) => self.add(b, take),
            Reply::Done(r) => {
                self.finished[h] = true;
                self.error = self.error.take().or(r.err());
            }
        }
    }
}

impl Trainer<'_> {
    /// One thread's share of a batch: the blocks it claims through `next`, with gradients or
    /// not, each block's results (with their positions) to `block` as it is run.
    fn run_share(
        &self,
        net: &Network,
        samples: &[&Sample],
        next: &AtomicUsize,
        (trials, with_grad): (u64, bool),
        mut block: impl FnMut(Vec<(usize, SampleResult)>),
    ) -> Result<(), TrainError> {
        let chip = self.configure(net)?;
        let plan = self.plan(net);
        let size = block_size(with_grad);
        loop {
            let start = next.fetch_add(size, Ordering::Relaxed);
            if start >= samples.len() {
                return Ok(());
            }
            block(self.run_block(
                net,
                &samples[start..samples.len().min(start + size)],
                start,
                with_grad,
                chip.as_ref(),
                plan.as_ref(),
                trials,
            ));
        }
    }
}
