//! The `snnc` command line: argument parsing, reading files, printing diagnostics, exit codes.
//!
//! Exit codes: 0 success (warnings allowed), 1 errors in the program, 2 usage or IO errors.

use clap::{Parser, Subcommand, ValueEnum};
use snnc::diag::{self, codes};
use snnc::driver::{self, Checked};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "snnc",
    version,
    about = "A language and compiler for spiking-neural-network experiments"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// When to colour diagnostics.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    color: Color,
    /// How to print diagnostics.
    #[arg(long, value_enum, default_value_t = MessageFormat::Human, global = true)]
    message_format: MessageFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Emit {
    Ir,
    Clif,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum BackendArg {
    Jit,
    Interp,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum MessageFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and check a program, then print a summary of what it declares.
    Check {
        file: PathBuf,
        /// Override a setting, e.g. `--set train.epochs=10` or `--set hidden.tau_mem=12ms`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Explain an error code, e.g. `snnc explain E0301`.
    Explain { code: String },
    /// Simulate the program (no train section) or train it, and write a results folder.
    Run {
        /// The program (optional with `--resume`, which uses the copy saved in the folder).
        #[arg(required_unless_present = "resume")]
        file: Option<PathBuf>,
        /// Continue an interrupted training run from its results folder, bit-identically.
        #[arg(long, value_name = "DIR", conflicts_with = "out")]
        resume: Option<PathBuf>,
        /// Results folder (default `results/<program>/<timestamp>`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads for batches (results do not depend on it).
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
        /// Override the number of epochs.
        #[arg(long)]
        epochs: Option<usize>,
        /// How model functions run: native code (`jit`) or the reference interpreter.
        #[arg(long, value_enum, default_value_t = BackendArg::Jit)]
        backend: BackendArg,
        /// Override a setting, e.g. `--set train.epochs=10` (recorded in the manifest).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Print the IR of every neuron model with all derived functions.
    Ir {
        file: PathBuf,
        /// Only this neuron model.
        #[arg(long)]
        model: Option<String>,
        /// What to print: the snnc IR, or the Cranelift IR generated from it.
        #[arg(long, value_enum, default_value_t = Emit::Ir)]
        emit: Emit,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Check { file, set } => check(&cli, file, set),
        Command::Explain { code } => explain(code),
        Command::Ir { file, model, emit } => ir(&cli, file, model.as_deref(), *emit),
        Command::Run {
            file,
            resume,
            out,
            threads,
            epochs,
            backend,
            set,
        } => {
            let backend = match backend {
                BackendArg::Jit => snnc::sim::kernels::Backend::Jit,
                BackendArg::Interp => snnc::sim::kernels::Backend::Interp,
            };
            let (file, out, set) = match resume {
                Some(dir) => {
                    let saved: Vec<String> = std::fs::read_to_string(dir.join("overrides.json"))
                        .ok()
                        .and_then(|t| serde_json::from_str(&t).ok())
                        .unwrap_or_default();
                    let file = file.clone().unwrap_or_else(|| dir.join("program.snn"));
                    (
                        file,
                        Some(dir.clone()),
                        if set.is_empty() { saved } else { set.clone() },
                    )
                }
                None => (
                    file.clone().expect("clap requires FILE without --resume"),
                    out.clone(),
                    set.clone(),
                ),
            };
            run(
                &cli,
                RunRequest {
                    file,
                    out,
                    threads: *threads,
                    epochs: *epochs,
                    backend,
                    set,
                    resume: resume.is_some(),
                },
            )
        }
    }
}

fn use_color(cli: &Cli) -> bool {
    match cli.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

fn print_diagnostics(cli: &Cli, checked: &Checked) {
    let color = use_color(cli);
    match cli.message_format {
        MessageFormat::Human => {
            for text in diag::render_all(&checked.sources, &checked.diagnostics, color) {
                eprint!("{text}");
            }
        }
        MessageFormat::Json => {
            for d in &checked.diagnostics {
                println!("{}", diag::render_json(&checked.sources, d));
            }
        }
    }
}

fn load(file: &std::path::Path, set: &[String]) -> Result<Checked, ExitCode> {
    driver::check_file_with(file, set).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

fn check(cli: &Cli, file: &std::path::Path, set: &[String]) -> ExitCode {
    let checked = match load(file, set) {
        Ok(c) => c,
        Err(code) => return code,
    };
    print_diagnostics(cli, &checked);
    let errors = checked.diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = checked.diagnostics.len() - errors;
    if errors > 0 {
        if cli.message_format == MessageFormat::Human {
            eprintln!(
                "{}: {errors} error{}, {warnings} warning{}",
                file.display(),
                s(errors),
                s(warnings)
            );
        }
        return ExitCode::from(1);
    }
    if cli.message_format == MessageFormat::Human
        && let Some(program) = &checked.program
    {
        println!("{}: ok ({warnings} warning{})", file.display(), s(warnings));
        let notes: Vec<Vec<String>> = driver::lower(program)
            .iter()
            .map(|m| vec![snnc::ir::print::classification(m)])
            .collect();
        print!("{}", snnc::report::summary(program, &notes));
    }
    ExitCode::SUCCESS
}

fn ir(cli: &Cli, file: &std::path::Path, only: Option<&str>, emit: Emit) -> ExitCode {
    let checked = match load(file, &[]) {
        Ok(c) => c,
        Err(code) => return code,
    };
    print_diagnostics(cli, &checked);
    let Some(program) = &checked.program else {
        return ExitCode::from(1);
    };
    let models = driver::lower(program);
    if let Some(name) = only
        && !models.iter().any(|m| m.name == name)
    {
        eprintln!("error: no neuron model `{name}` in {}", file.display());
        return ExitCode::from(2);
    }
    for m in models.iter().filter(|m| only.is_none_or(|n| n == m.name)) {
        match emit {
            Emit::Ir => println!("{}", snnc::ir::print::model(m)),
            Emit::Clif => {
                let mut jit = match snnc::jit::Jit::new() {
                    Ok(j) => j,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                };
                println!("; model {}", m.name);
                for f in m.functions() {
                    match jit.clif(f) {
                        Ok(text) => println!("; {}\n{text}", f.name),
                        Err(e) => {
                            eprintln!("error: {e}");
                            return ExitCode::from(2);
                        }
                    }
                }
            }
        }
    }
    ExitCode::SUCCESS
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Progress of `snnc run`: a bar per epoch on a terminal (loss, accuracy, samples/s), and the
/// one-line epoch summaries printed above it (or alone when stderr is not a terminal).
#[derive(Default)]
struct Bar {
    bar: Option<(usize, indicatif::ProgressBar, std::time::Instant)>,
    /// The simulation bar, shown once a simulation has run for a second: when it started, and
    /// the bar (by model time, in microseconds).
    sim: Option<(std::time::Instant, Option<indicatif::ProgressBar>)>,
}

impl snnc::runner::Progress for Bar {
    fn simulated(&mut self, t: f64, t_max: f64) {
        let (start, bar) = self
            .sim
            .get_or_insert_with(|| (std::time::Instant::now(), None));
        if t >= t_max {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
            self.sim = None;
            return;
        }
        if bar.is_none() && start.elapsed().as_secs_f64() > 1.0 {
            let b = indicatif::ProgressBar::with_draw_target(
                Some((t_max * 1e6).round() as u64),
                indicatif::ProgressDrawTarget::stderr(),
            );
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "simulating [{bar:30}] {msg}, {elapsed} (eta {eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            *bar = Some(b);
        }
        if let Some(b) = bar {
            b.set_position((t * 1e6).round() as u64);
            b.set_message(format!(
                "{:.1} ms of {} model time",
                t * 1e3,
                snnc::report::fmt_time(t_max)
            ));
        }
    }

    fn line(&mut self, text: &str) {
        match &self.bar {
            Some((_, bar, _)) if !bar.is_hidden() => bar.println(text),
            _ => eprintln!("{text}"),
        }
    }

    fn batch(&mut self, epoch: usize, b: snnc::train::BatchProgress) {
        if self.bar.as_ref().is_none_or(|(e, _, _)| *e != epoch) {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(b.samples_total as u64),
                indicatif::ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "epoch {prefix:>3} [{bar:30}] {pos}/{len} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix((epoch + 1).to_string());
            self.bar = Some((epoch, bar, std::time::Instant::now()));
        }
        if let Some((_, bar, start)) = &self.bar {
            bar.set_position(b.samples_done as u64);
            let rate = b.samples_done as f64 / start.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "loss {:.4}  train {:.1} %  {rate:.0} samples/s",
                b.loss,
                100.0 * b.accuracy
            ));
            if b.samples_done == b.samples_total {
                bar.finish_and_clear();
            }
        }
    }
}

/// What `snnc run` was asked to do, after resolving `--resume`.
struct RunRequest {
    file: PathBuf,
    out: Option<PathBuf>,
    threads: usize,
    epochs: Option<usize>,
    backend: snnc::sim::kernels::Backend,
    set: Vec<String>,
    resume: bool,
}

fn run(cli: &Cli, req: RunRequest) -> ExitCode {
    let RunRequest {
        file,
        out,
        threads,
        epochs,
        backend,
        set,
        resume,
    } = req;
    let (file, set) = (file.as_path(), set.as_slice());
    let checked = match load(file, set) {
        Ok(c) => c,
        Err(code) => return code,
    };
    print_diagnostics(cli, &checked);
    let Some(mut program) = checked.program.clone() else {
        return ExitCode::from(1);
    };
    if let (Some(e), Some(t)) = (epochs, program.training.as_mut()) {
        t.epochs = e;
    }
    let stem = file
        .file_stem()
        .map_or("program".into(), |s| s.to_string_lossy().into_owned());
    let out = out.unwrap_or_else(|| {
        PathBuf::from("results")
            .join(&stem)
            .join(snnc::results::timestamp())
    });
    let opts = snnc::runner::RunOptions {
        out,
        threads,
        backend,
        source_name: file.display().to_string(),
        source_text: checked.sources.get(checked.source).text.clone(),
        overrides: set.to_vec(),
        resume,
    };
    let mut progress = Bar::default();
    let result = if program.training.is_some() {
        snnc::runner::train(&program, &opts, &mut progress).map(|_| ())
    } else {
        snnc::runner::simulate(&program, &opts, &mut progress)
    };
    match result {
        Ok(()) => {
            eprintln!("results written to {}", opts.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn s(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn explain(code: &str) -> ExitCode {
    match codes::parse_code(code) {
        Some(c) => {
            match codes::explain(c) {
                Some(text) => println!("{text}"),
                None => println!("{c}: {}", c.summary()),
            }
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("error: `{code}` is not an snnc error code (they look like E0301)");
            ExitCode::from(2)
        }
    }
}
