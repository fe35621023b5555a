//! Helper threads kept for a whole epoch, so that its batches do not each spawn and join
//! threads (about 60 µs a time on the 2-core machines, 79 times in a Yin-Yang epoch) and the
//! helpers keep their buffers warm. Each helper has its own copy of the network and takes the
//! batch's weights with the task; it claims blocks of the batch through the same counter as the
//! calling thread ([`Trainer::take_blocks`]), and results go back by position, so a batch's
//! results are the same whichever thread ran which sample.
//!
//! What it does not do: evaluation (two calls an epoch, which `Trainer::parallel` serves), or
//! anything but the samples' forward and backward runs (the optimiser step stays with the
//! caller).

use super::data::Sample;
use super::{BLOCK, SampleResult, TrainError, Trainer, in_order};
use crate::sim::network::Network;
use crate::sim::spin::receive;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::Scope;

/// One batch for one helper.
struct Task {
    weights: Arc<Vec<Vec<f64>>>,
    /// Positions of the batch's samples in the training set.
    batch: Arc<Vec<usize>>,
    next: Arc<AtomicUsize>,
    trials: u64,
}

type Reply = Result<Vec<(usize, SampleResult)>, TrainError>;

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
                        let samples: Vec<&Sample> =
                            task.batch.iter().map(|&i| &trainer.train[i]).collect();
                        let reply = trainer.run_share(&net, &samples, &task.next, task.trials);
                        if replies.send(reply).is_err() {
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
    /// thread and the helpers; results in batch order. On the chip, sample `k` of the batch is
    /// trial `trials + k`.
    pub(super) fn run(
        &self,
        trainer: &Trainer,
        net: &Network,
        batch: &[usize],
        trials: u64,
    ) -> Result<Vec<SampleResult>, TrainError> {
        let samples: Vec<&Sample> = batch.iter().map(|&i| &trainer.train[i]).collect();
        let busy = self
            .helpers
            .len()
            .min(samples.len().div_ceil(BLOCK).saturating_sub(1));
        let next = Arc::new(AtomicUsize::new(0));
        if busy > 0 {
            let weights = Arc::new(net.projections.iter().map(|s| s.w.clone()).collect());
            let shared = Arc::new(batch.to_vec());
            for (tasks, _) in &self.helpers[..busy] {
                tasks
                    .send(Task {
                        weights: Arc::clone(&weights),
                        batch: Arc::clone(&shared),
                        next: Arc::clone(&next),
                        trials,
                    })
                    .expect("a training thread panicked");
            }
        }
        let mine = trainer.run_share(net, &samples, &next, trials);
        // Every helper's reply is taken, even after an error, so none is left for the next
        // batch.
        let theirs = self.helpers[..busy]
            .iter()
            .map(|(_, replies)| receive(replies, self.spin).expect("a training thread panicked"));
        let mut done = Vec::with_capacity(samples.len());
        let mut error = None;
        for reply in std::iter::once(mine).chain(theirs) {
            match reply {
                Ok(d) => done.extend(d),
                Err(e) => error = error.or(Some(e)),
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(in_order(done, samples.len())),
        }
    }
}

impl Trainer<'_> {
    /// One thread's share of a training batch: the blocks it claims through `next`, with
    /// gradients.
    fn run_share(
        &self,
        net: &Network,
        samples: &[&Sample],
        next: &AtomicUsize,
        trials: u64,
    ) -> Reply {
        let chip = self.configure(net)?;
        let plan = self.plan(net);
        Ok(self.take_blocks(
            net,
            samples,
            next,
            true,
            chip.as_ref(),
            plan.as_ref(),
            trials,
        ))
    }
}
