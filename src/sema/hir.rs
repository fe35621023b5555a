//! The checked program: names resolved to ids, units checked, values in SI.
//!
//! Everything downstream (IR lowering, engines, the hardware backend) reads this tree and never
//! the AST. Numbers are SI values (`10 ms` is `0.01`); dimensions are kept on definitions so
//! reports can print them.

use super::units::{Dimension, Ratio};
use crate::source::Span;

macro_rules! id {
    ($($name:ident),*) => {$(
        /// An index into the owning arena.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);
        impl $name {
            pub fn index(self) -> usize { self.0 as usize }
        }
    )*};
}
id!(
    NeuronId, ParamId, StateId, LetId, ReceptorId, PopId, InputId
);

/// A built-in function usable in neuron expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Func {
    Exp,
    Log,
    Sqrt,
    Abs,
    Min,
    Max,
    Tanh,
    Sin,
    Cos,
}

impl Func {
    pub const ALL: [(&'static str, Func); 9] = [
        ("exp", Func::Exp),
        ("log", Func::Log),
        ("sqrt", Func::Sqrt),
        ("abs", Func::Abs),
        ("min", Func::Min),
        ("max", Func::Max),
        ("tanh", Func::Tanh),
        ("sin", Func::Sin),
        ("cos", Func::Cos),
    ];

    pub fn name(self) -> &'static str {
        Func::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }

    pub fn arity(self) -> usize {
        if matches!(self, Func::Min | Func::Max) {
            2
        } else {
            1
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

/// A checked expression inside a neuron model.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Const(f64),
    Param(ParamId),
    State(StateId),
    Let(LetId),
    /// The weight of the incoming spike, inside a receptor body.
    Weight,
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub dim: Dimension,
    /// The default value in SI units.
    pub default: f64,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub name: String,
    pub dim: Dimension,
    /// Initial value; may refer to parameters.
    pub init: Expr,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Let {
    pub name: String,
    pub dim: Dimension,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignOp {
    Set,
    Add,
    Sub,
    Mul,
}

/// `state op= value`, one update of a jump map.
#[derive(Clone, Debug, PartialEq)]
pub struct Assign {
    pub state: StateId,
    pub op: AssignOp,
    pub value: Expr,
    pub span: Span,
}

/// A synaptic input port: what a spike of weight `w` does to the state.
#[derive(Clone, Debug, PartialEq)]
pub struct Receptor {
    pub name: String,
    /// The dimension of the weight: that of the state it is added to.
    pub weight_dim: Dimension,
    pub body: Vec<Assign>,
    pub span: Span,
}

/// A user-written neuron model.
#[derive(Clone, Debug, PartialEq)]
pub struct NeuronModel {
    pub name: String,
    pub params: Vec<Param>,
    pub states: Vec<State>,
    pub lets: Vec<Let>,
    /// `d/dt x` for each state, in state order; `None` means the state is constant between events.
    pub odes: Vec<Option<Expr>>,
    pub receptors: Vec<Receptor>,
    /// h(x, p): the neuron spikes when h crosses zero from below.
    pub threshold: Expr,
    pub reset: Vec<Assign>,
    /// Refractory period in seconds (an expression over parameters).
    pub refractory: Option<Expr>,
    pub span: Span,
    /// The model's name in its definition, for diagnostics about the whole model.
    pub name_span: Span,
}

impl NeuronModel {
    pub fn param(&self, name: &str) -> Option<ParamId> {
        self.params
            .iter()
            .position(|p| p.name == name)
            .map(|i| ParamId(i as u32))
    }
    pub fn state(&self, name: &str) -> Option<StateId> {
        self.states
            .iter()
            .position(|s| s.name == name)
            .map(|i| StateId(i as u32))
    }
    pub fn receptor(&self, name: &str) -> Option<ReceptorId> {
        self.receptors
            .iter()
            .position(|r| r.name == name)
            .map(|i| ReceptorId(i as u32))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Population {
    pub name: String,
    pub size: usize,
    pub model: NeuronId,
    /// Parameter values of this population (defaults with overrides applied), SI.
    pub params: Vec<f64>,
    pub span: Span,
}

/// The Yin-Yang dataset generator and its latency encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct YinYang {
    pub train: usize,
    pub validation: usize,
    pub test: usize,
    pub seed: u64,
    pub t_early: f64,
    pub t_late: f64,
    /// Time of the bias spike, if any.
    pub bias: Option<f64>,
    pub mirror: bool,
    /// `kriener` (per-sample rejection sampling) or `jaxsnn` (class-balanced pool).
    pub generator: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum InputKind {
    YinYang(YinYang),
    Poisson {
        rate: f64,
        seed: u64,
        start: f64,
        stop: Option<f64>,
    },
    Regular {
        rate: f64,
        phase: f64,
    },
    /// Spike data from a file; `path` as written (relative to the program's folder).
    File {
        path: String,
        /// Seconds per unit of the times in the file (`time_unit`, default `1 s`).
        time_unit: f64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub name: String,
    pub size: usize,
    pub kind: InputKind,
    pub span: Span,
}

/// Either end of a projection's presynaptic side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    Pop(PopId),
    Input(InputId),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Connectivity {
    Dense,
    OneToOne,
    Sparse { p: f64 },
}

#[derive(Clone, Debug, PartialEq)]
pub enum WeightInit {
    Constant(f64),
    Normal { mean: f64, std: f64 },
    Uniform { low: f64, high: f64 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Projection {
    pub pre: Node,
    pub post: PopId,
    pub connect: Connectivity,
    /// Whether a recurrent projection (pre == post) may connect a neuron to itself.
    pub autapses: bool,
    pub receptor: ReceptorId,
    pub init: WeightInit,
    pub weight_dim: Dimension,
    /// Synaptic delay in seconds.
    pub delay: f64,
    /// Whether training may change these weights.
    pub plastic: bool,
    pub span: Span,
}

impl Projection {
    pub fn is_recurrent(&self) -> bool {
        self.pre == Node::Pop(self.post)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Exact,
    Euler,
    Rk4,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// Exact event-based simulation, with an optional limit of spikes per neuron.
    Event {
        max_spikes_per_neuron: Option<usize>,
    },
    Discrete {
        dt: f64,
        scheme: Scheme,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Simulation {
    pub mode: Mode,
    /// End of the simulated window, seconds.
    pub t_max: f64,
    /// Adaptive-integration tolerance for nonlinear models.
    pub tolerance: f64,
    /// How event mode advances time (`driver`).
    pub driver: Driver,
    pub span: Span,
}

/// How the exact event engine advances time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Driver {
    /// The stepped driver where it applies (linear networks whose links between populations
    /// all have delays), else the queue.
    #[default]
    Auto,
    /// One global event queue, always.
    Queue,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Loss {
    /// -log softmax(-t/tau)_label over first spike times, plus the Göltz regulariser
    /// `alpha * (exp(t_label / (beta * tau_reg)) - 1)` when `alpha > 0`.
    FirstSpikeCe {
        tau: f64,
        alpha: f64,
        beta: f64,
        tau_reg: f64,
    },
    /// Mean squared error to target times (correct / wrong class).
    TargetMse { correct: f64, wrong: f64, tau: f64 },
    /// Cross-entropy over the maximum membrane value of a readout (time-discrete).
    MaxMembraneCe,
    /// Cross-entropy over spike counts (time-discrete).
    SpikeCountCe,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Surrogate {
    SuperSpike { beta: f64 },
    Sigmoid { beta: f64 },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Gradient {
    EventProp,
    Analytic,
    Surrogate(Surrogate),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Optimizer {
    Adam {
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
    },
    Sgd {
        lr: f64,
        momentum: f64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Training {
    pub output: PopId,
    pub data: InputId,
    pub loss: Loss,
    pub gradient: Gradient,
    pub optimizer: Optimizer,
    /// Learning-rate factor per epoch (exponential decay).
    pub lr_decay: f64,
    /// Element-wise gradient clipping, if any.
    pub clip: Option<f64>,
    pub epochs: usize,
    pub batch: usize,
    pub seed: u64,
    /// Weight bumping (Göltz et al.): amount added to the input weights of silent output neurons.
    pub weight_bump: Option<f64>,
    /// Rate regulariser for time-discrete training: (strength, target spikes per neuron).
    pub rate_reg: Option<(f64, f64)>,
    /// Run feed-forward networks layer by layer in modal coordinates where they allow it
    /// (`sim::modal`, the default); `false`: always the event engine.
    pub fast_path: bool,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Record {
    pub spikes: Vec<Node>,
    pub traces: Vec<(PopId, StateId)>,
    /// Sampling step of state traces in event mode (`None`: the default,
    /// [`Record::DEFAULT_TRACE_DT`]); discrete mode samples every step.
    pub dt: Option<f64>,
}

impl Record {
    /// Event-mode trace sampling step without a `dt` entry: 0.1 ms.
    pub const DEFAULT_TRACE_DT: f64 = 1e-4;

    /// The sampling step of event-mode traces.
    pub fn trace_dt(&self) -> f64 {
        self.dt.unwrap_or(Self::DEFAULT_TRACE_DT)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Hardware {
    pub target: String,
    /// Hardware weight units per model weight unit (SI), `w_hw = round(scale * w)`.
    pub weight_scale: f64,
    /// Clamp bound of quantised weights (63, or more to spread a connection over several
    /// synapses).
    pub weight_clip: u32,
    /// Model seconds per hardware second (BrainScaleS-2 runs 1000x faster than biology).
    pub speedup: f64,
    /// Calibration targets of the leak potential and threshold, in CADC LSB.
    pub leak_lsb: f64,
    pub threshold_lsb: f64,
    /// Global synapse DAC bias (CapMem LSB).
    pub synapse_dac_bias: u32,
    /// Populations pinned to the top or bottom hemisphere.
    pub top: Vec<PopId>,
    pub bottom: Vec<PopId>,
    /// Settings of the software mock of the chip.
    pub mock: MockSettings,
    pub span: Span,
}

/// Imperfections of the BrainScaleS-2 mock; zero switches an effect off.
#[derive(Clone, Debug, PartialEq)]
pub struct MockSettings {
    /// Scale of the fixed-pattern noise (1 = the documented defaults).
    pub fixed_pattern: f64,
    /// Seed of the fixed-pattern noise ("which chip").
    pub chip_seed: u64,
    /// Standard deviation of the trial-to-trial spike-time jitter, hardware seconds.
    pub jitter: f64,
    /// Constant readout latency, hardware seconds.
    pub latency: f64,
    /// Largest synaptic input, CADC LSB (0 = no saturation).
    pub saturation: f64,
    /// Spread simultaneous input events over consecutive FPGA cycles, as the playback does.
    pub serialise_inputs: bool,
}

/// A checked `.snn` program.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub neurons: Vec<NeuronModel>,
    pub populations: Vec<Population>,
    pub inputs: Vec<Input>,
    pub projections: Vec<Projection>,
    pub simulation: Simulation,
    pub training: Option<Training>,
    pub record: Record,
    pub hardware: Option<Hardware>,
}

impl Program {
    pub fn node_name(&self, node: Node) -> &str {
        match node {
            Node::Pop(p) => &self.populations[p.index()].name,
            Node::Input(i) => &self.inputs[i.index()].name,
        }
    }

    pub fn node_size(&self, node: Node) -> usize {
        match node {
            Node::Pop(p) => self.populations[p.index()].size,
            Node::Input(i) => self.inputs[i.index()].size,
        }
    }
}

/// A dimension together with a constant exponent, used when checking `x ^ e`.
pub type Power = (Dimension, Ratio);
