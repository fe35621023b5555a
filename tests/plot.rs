//! `snnc plot`: figures of results folders written by real (tiny) runs are valid PNG files of
//! the stated size and SVG files with one marker per data point; folders that are empty or
//! damaged give clear errors. `snnc run` saves what the training figures need (predictions,
//! Yin-Yang points, spikes of test samples), consistent with its metrics, and draws them unless
//! `--no-plot`.

mod common;

use snnc::npz::{Values, parse_npy};
use snnc::plot::{PlotError, plot_dir};
use snnc::runner::{RunOptions, simulate, train};
use snnc::sim::kernels::Backend;
use std::path::{Path, PathBuf};

fn out_dir(name: &str) -> common::TempDir {
    common::TempDir::new(&format!("plot-{name}"), false)
}

fn opts(src: &str, out: &Path) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        threads: 1,
        backend: Backend::Jit,
        source_name: "test.snn".into(),
        source_text: src.into(),
        overrides: vec![],
        resume: false,
        base_dir: PathBuf::from("."),
        chip: false,
    }
}

const LIF: &str = "
neuron LIF {
    param tau_mem = 10 ms
    param tau_syn = 5 ms
    state v = 0.0
    state i = 0.0
    d/dt v = (i - v) / tau_mem
    d/dt i = -i / tau_syn
    receptor syn(w) { i += w }
    spike when v >= 1.0
    on spike { v = 0.0 }
}
";

/// Checks the PNG signature, the IHDR chunk (960 x 540, 8-bit RGB) and that the zlib stream
/// inflates to exactly one filter byte plus 3 bytes per pixel per row.
fn check_png(path: &Path) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    assert_eq!(&b[12..16], b"IHDR");
    let (w, h) = (
        u32::from_be_bytes(b[16..20].try_into().unwrap()),
        u32::from_be_bytes(b[20..24].try_into().unwrap()),
    );
    assert_eq!((w, h), (960, 540));
    assert_eq!(&b[24..26], &[8, 2]);
    let idat_len = u32::from_be_bytes(b[33..37].try_into().unwrap()) as usize;
    assert_eq!(&b[37..41], b"IDAT");
    let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&b[41..41 + idat_len]).unwrap();
    assert_eq!(raw.len(), (h * (1 + 3 * w)) as usize);
    // Not a blank image: the white background and some drawn pixels.
    assert!(raw.iter().any(|v| *v < 200));
    assert!(b.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]));
}

/// The SVG text, checked to be one well-formed `<svg>` element, with its number of `<circle`
/// elements and the number of points of each coloured `<polyline` (the data lines; axes and
/// grid are black).
fn check_svg(path: &Path) -> (String, usize, Vec<usize>) {
    let s = std::fs::read_to_string(path).unwrap();
    let body = s.trim();
    assert!(
        body.starts_with("<svg") && body.ends_with("</svg>"),
        "{}",
        path.display()
    );
    assert_eq!(body.matches("<svg").count(), 1);
    // Every opened tag is closed or self-closing.
    let opens = body.matches('<').count();
    let closes = body.matches('>').count();
    assert_eq!(opens, closes);
    let circles = body.matches("<circle").count();
    let lines = body
        .split("<polyline")
        .skip(1)
        .map(|p| p.split('>').next().unwrap())
        .filter(|p| !p.contains("stroke=\"#000000\""))
        .map(|p| {
            let points = p
                .split("points=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            points.split_whitespace().count()
        })
        .collect();
    (s, circles, lines)
}

fn floats(path: &Path) -> Vec<f64> {
    match parse_npy(&std::fs::read(path).unwrap()).unwrap().values {
        Values::Float(v) => v,
        Values::Int(v) => v.into_iter().map(|x| x as f64).collect(),
    }
}

#[test]
fn a_training_folder_gives_metrics_and_output_time_figures() {
    let src = format!(
        "{LIF}
input data = yinyang(train = 32, validation = 8, test = 24, seed = 2)
population hidden = 10 LIF
population out = 3 LIF
project data -> hidden dense init normal(3.0, 1.6)
project hidden -> out dense init normal(0.8, 0.8)
simulation {{ t_max 20 ms }}
train {{
    output out
    loss first_spike_ce
    gradient eventprop
    epochs 3
    batch 8
}}
"
    );
    let dir = out_dir("train");
    train(&common::program(&src), &opts(&src, &dir), &mut |_: &str| {}).unwrap();
    let written = plot_dir(&dir).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "plot_metrics.svg",
            "plot_metrics.png",
            "plot_test_output_times.svg",
            "plot_test_output_times.png",
            "plot_decision_map.svg",
            "plot_decision_map.png",
            "plot_weights.svg",
            "plot_weights.png",
            "plot_test_raster.svg",
            "plot_test_raster.png",
        ]
    );
    for f in written.iter().filter(|p| p.extension().unwrap() == "png") {
        check_png(f);
    }
    // Metrics: 3 epochs x (loss, train, validation, test) dots; one line of 3 points each.
    let (text, circles, lines) = check_svg(&dir.join("plot_metrics.svg"));
    assert_eq!(circles, 3 * 4);
    assert_eq!(lines, [3, 3, 3, 3]);
    assert!(text.contains("validation") && text.contains("epoch"));
    // Output times: one dot per output neuron that spiked on a test sample.
    let times = floats(&dir.join("test_output_times.npy"));
    let finite = times.iter().filter(|t| t.is_finite()).count();
    assert!(finite > 0);
    let (_, circles, _) = check_svg(&dir.join("plot_test_output_times.svg"));
    assert_eq!(circles, finite);
}

const TRAIN: &str = "
input data = yinyang(train = 32, validation = 8, test = 24, seed = 2)
population hidden = 10 LIF
population out = 3 LIF
project data -> hidden dense init normal(3.0, 1.6)
project hidden -> out dense init normal(0.8, 0.8)
simulation { t_max 20 ms }
train {
    output out
    loss first_spike_ce
    gradient eventprop
    epochs 1
    batch 8
}
";

/// Runs `snnc run` on `src` (written to `dir/prog.snn`) into `dir/OUT` with `args`.
fn snnc_run(dir: &Path, src: &str, out: &str, args: &[&str]) -> std::process::Output {
    std::fs::create_dir_all(dir).unwrap();
    let prog = dir.join("prog.snn");
    std::fs::write(&prog, src).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_snnc"))
        .arg("run")
        .arg(&prog)
        .arg("--out")
        .arg(dir.join(out))
        .args(["--threads", "2"])
        .args(args)
        .output()
        .unwrap()
}

/// The saved spikes of the first test samples (`test_spikes_*.npy`), column by column.
struct TestSpikes {
    sample: Vec<f64>,
    node: Vec<f64>,
    neuron: Vec<f64>,
    time: Vec<f64>,
}

impl TestSpikes {
    fn read(dir: &Path) -> TestSpikes {
        let col = |f: &str| floats(&dir.join(format!("test_spikes_{f}.npy")));
        TestSpikes {
            sample: col("sample"),
            node: col("node"),
            neuron: col("neuron"),
            time: col("time"),
        }
    }

    /// The indices of sample `k`'s spikes of node `code`.
    fn of(&self, k: usize, code: f64) -> impl Iterator<Item = usize> + '_ {
        (0..self.time.len()).filter(move |&s| self.sample[s] == k as f64 && self.node[s] == code)
    }

    /// Sample `k`'s first spike of each of the 3 outputs (node 1) equals its saved output time.
    fn assert_first_outputs(&self, k: usize, output_times: &[f64]) {
        for j in 0..3 {
            let first = self
                .of(k, 1.0)
                .filter(|&s| self.neuron[s] == j as f64)
                .map(|s| self.time[s])
                .fold(f64::INFINITY, f64::min);
            assert_eq!(first, output_times[k * 3 + j], "sample {k}, output {j}");
        }
    }
}

fn shape(path: &Path) -> Vec<usize> {
    parse_npy(&std::fs::read(path).unwrap()).unwrap().shape
}

#[test]
fn run_saves_predictions_points_and_test_spikes_consistent_with_its_metrics() {
    let src = format!("{LIF}{TRAIN}");
    let dir = out_dir("run-train");
    let out = snnc_run(&dir, &src, "res", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let res = dir.join("res");
    assert!(
        stderr.contains(&format!("figures: 10 files in {}", res.display())),
        "{stderr}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(res.join("manifest.json")).unwrap()).unwrap();
    let details = &manifest["details"];
    assert_eq!(
        details["node_codes"],
        serde_json::json!(["hidden", "out", "data"])
    );
    assert_eq!(details["test_spike_samples"], 5);
    // A feed-forward network of this linear model trains on the modal fast path.
    assert_eq!(details["fast_path"], true);
    // Predictions: int64, one per test sample, and exactly the final test accuracy.
    let predictions = parse_npy(&std::fs::read(res.join("test_predictions.npy")).unwrap()).unwrap();
    assert_eq!(
        (predictions.dtype.as_str(), &predictions.shape[..]),
        ("<i8", &[24][..])
    );
    let predicted = floats(&res.join("test_predictions.npy"));
    let labels = floats(&res.join("test_labels.npy"));
    assert!(predicted.iter().all(|p| (-1.0..3.0).contains(p)));
    let correct = predicted
        .iter()
        .zip(&labels)
        .filter(|(p, l)| p == l)
        .count();
    let accuracy = details["final_test_accuracy"].as_f64().unwrap();
    assert_eq!(correct as f64 / 24.0, accuracy);
    // Points: in the unit square, each of its label's class.
    assert_eq!(shape(&res.join("test_points.npy")), [24, 2]);
    let xy = floats(&res.join("test_points.npy"));
    for (k, p) in xy.chunks(2).enumerate() {
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)), "{p:?}");
        assert_eq!(
            snnc::train::data::yinyang_class(p[0], p[1]),
            Some(labels[k] as usize)
        );
    }
    // Spikes of the first 5 test samples: every input channel once (latency code), and the
    // outputs' first spikes are the saved output times.
    let n = shape(&res.join("test_spikes_time.npy"));
    for f in ["sample", "node", "neuron"] {
        assert_eq!(shape(&res.join(format!("test_spikes_{f}.npy"))), n);
    }
    let spikes = TestSpikes::read(&res);
    let channels = manifest["inputs"][0]["size"].as_u64().unwrap() as usize;
    let output_times = floats(&res.join("test_output_times.npy"));
    for k in 0..5 {
        assert_eq!(spikes.of(k, 2.0).count(), channels, "sample {k}");
        assert!(
            spikes.of(k, 0.0).count() > 0,
            "sample {k}: the hidden layer is silent"
        );
        spikes.assert_first_outputs(k, &output_times);
    }
    assert!(spikes.sample.iter().all(|s| (0.0..5.0).contains(s)));
    // Every figure, as PNG and SVG.
    for name in [
        "plot_metrics",
        "plot_test_output_times",
        "plot_decision_map",
        "plot_weights",
        "plot_test_raster",
    ] {
        check_png(&res.join(format!("{name}.png")));
        check_svg(&res.join(format!("{name}.svg")));
    }
    // Decision map: a dot per point, a ring per mistake, and the legend's markers (3 classes,
    // "no output spike" if some sample has none, "misclassified").
    let (text, circles, _) = check_svg(&res.join("plot_decision_map.svg"));
    let silent = predicted.iter().any(|p| *p < 0.0);
    assert_eq!(circles, 24 + (24 - correct) + 3 + usize::from(silent) + 1);
    assert!(
        text.contains(&format!("test accuracy {:.1} %", 100.0 * accuracy)),
        "{text}"
    );
    // Test raster: a dot per saved spike and a legend marker per node.
    let (text, circles, _) = check_svg(&res.join("plot_test_raster.svg"));
    assert_eq!(circles, spikes.time.len() + 3);
    assert!(text.contains(&format!("label {}", labels[0])));
    // Weights: one panel per projection, named by its array.
    let (text, _, _) = check_svg(&res.join("plot_weights.svg"));
    assert!(text.contains("data_to_hidden_0") && text.contains("hidden_to_out_0"));
    // A damaged `test_points.npy` is named in the error.
    std::fs::write(
        res.join("test_points.npy"),
        snnc::results::npy_f64(&[0.5; 24 * 3], &[24, 3]),
    )
    .unwrap();
    match plot_dir(&res) {
        Err(PlotError::Malformed { path, reason }) => {
            assert!(path.ends_with("test_points.npy"), "{}", path.display());
            assert!(reason.contains("expected (samples, 2)"), "{reason}");
        }
        other => panic!("expected a malformed test_points.npy, got {other:?}"),
    }
    std::fs::write(res.join("test_points.npy"), b"\x93NUMPY").unwrap();
    let truncated = plot_dir(&res).unwrap_err();
    assert!(
        matches!(&truncated, PlotError::Malformed { path, .. } if path.ends_with("test_points.npy")),
        "{truncated}"
    );
    // With --no-plot the same run writes the results and no figure.
    let out = snnc_run(&dir, &src, "quiet", &["--no-plot"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("figures:"), "{stderr}");
    let files: Vec<String> = std::fs::read_dir(dir.join("quiet"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.contains(&"test_predictions.npy".to_string()),
        "{files:?}"
    );
    assert!(!files.iter().any(|f| f.starts_with("plot_")), "{files:?}");
    // A simulation plots too: its raster.
    let sim = format!(
        "{LIF}input drive = regular(size = 2, rate = 100 Hz)\npopulation cells = 2 LIF\nproject drive -> cells one_to_one init constant(3.0)\nsimulation {{ t_max 30 ms }}\n"
    );
    let out = snnc_run(&dir, &sim, "sim", &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("figures: 2 files"));
    check_png(&dir.join("sim/plot_raster.png"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// In discrete mode the saved spikes are the inputs' and the neurons' at the end of their steps;
/// the outputs' first ones are the saved output times, and the predictions (from the membrane
/// readout) give the final test accuracy.
#[test]
fn discrete_training_saves_step_spikes_and_readout_predictions() {
    let src = format!(
        "{LIF}
input data = yinyang(train = 16, validation = 0, test = 8, seed = 5, t_late = 10 ms, bias = 0 ms)
population hidden = 12 LIF
population out = 3 LIF
project data -> hidden dense init normal(3.0, 1.0)
project hidden -> out dense init normal(1.0, 0.5)
simulation {{ mode discrete  dt 0.5 ms  scheme exact  t_max 20 ms }}
train {{
    output out
    loss max_membrane_ce
    gradient surrogate(superspike, beta = 80)
    epochs 1
    batch 8
}}
"
    );
    let dir = out_dir("discrete");
    train(&common::program(&src), &opts(&src, &dir), &mut |_: &str| {}).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    // Time-discrete training never takes the (event-mode) fast path.
    assert_eq!(manifest["details"]["fast_path"], false);
    let predicted = floats(&dir.join("test_predictions.npy"));
    let labels = floats(&dir.join("test_labels.npy"));
    assert_eq!(predicted.len(), 8);
    assert!(predicted.iter().all(|p| (0.0..3.0).contains(p)));
    let correct = predicted
        .iter()
        .zip(&labels)
        .filter(|(p, l)| p == l)
        .count();
    assert_eq!(
        correct as f64 / 8.0,
        manifest["details"]["final_test_accuracy"].as_f64().unwrap()
    );
    let spikes = TestSpikes::read(&dir);
    let output_times = floats(&dir.join("test_output_times.npy"));
    for k in 0..5 {
        // x, y, 1 - x, 1 - y and the bias spike.
        assert_eq!(spikes.of(k, 2.0).count(), 5, "sample {k}");
        for s in spikes.of(k, 0.0).chain(spikes.of(k, 1.0)) {
            let steps = spikes.time[s] / 0.5e-3;
            assert!(
                (steps - steps.round()).abs() < 1e-9 && steps >= 1.0,
                "{}",
                spikes.time[s]
            );
        }
        spikes.assert_first_outputs(k, &output_times);
    }
    assert!(spikes.node.contains(&0.0), "the hidden layer is silent");
    assert!(spikes.node.contains(&1.0), "the outputs are silent");
    let written = plot_dir(&dir).unwrap();
    assert_eq!(written.len(), 10);
}

#[test]
fn a_simulation_folder_gives_a_raster_and_traces() {
    let src = format!(
        "{LIF}
input drive = poisson(size = 8, rate = 200 Hz)
population cells = 4 LIF
project drive -> cells dense init constant(0.8)
simulation {{ mode discrete  dt 0.5 ms  scheme euler  t_max 50 ms }}
record {{ traces [cells.v] }}
"
    );
    let dir = out_dir("sim");
    simulate(&common::program(&src), &opts(&src, &dir), &mut |_: &str| {}).unwrap();
    let written = plot_dir(&dir).unwrap();
    assert_eq!(written.len(), 4);
    for f in written.iter().filter(|p| p.extension().unwrap() == "png") {
        check_png(f);
    }
    let spikes = floats(&dir.join("spikes_time.npy")).len();
    assert!(spikes > 8);
    let (text, circles, _) = check_svg(&dir.join("plot_raster.svg"));
    assert_eq!(circles, spikes);
    assert!(text.contains("drive") && text.contains("cells"));
    // One line per neuron of `cells`, with a point per step boundary (0 to 100).
    let (_, _, lines) = check_svg(&dir.join("plot_trace_cells_v.svg"));
    assert_eq!(lines, [101; 4]);
}

#[test]
fn empty_or_damaged_folders_give_clear_errors() {
    let dir = out_dir("bad");
    let missing = plot_dir(&dir).unwrap_err().to_string();
    assert!(missing.contains("no such folder"), "{missing}");
    std::fs::create_dir_all(&dir).unwrap();
    let empty = plot_dir(&dir).unwrap_err().to_string();
    assert!(empty.contains("is not an snnc results folder"), "{empty}");
    std::fs::write(dir.join("metrics.csv"), "epoch,loss\n").unwrap();
    let no_column = plot_dir(&dir).unwrap_err().to_string();
    assert!(
        no_column.contains("metrics.csv") && no_column.contains("no column `train_accuracy`"),
        "{no_column}"
    );
    let header = "epoch,loss,train_accuracy,validation_accuracy,test_accuracy\n";
    std::fs::write(dir.join("metrics.csv"), header).unwrap();
    let no_rows = plot_dir(&dir).unwrap_err().to_string();
    assert!(no_rows.contains("no epochs yet"), "{no_rows}");
    std::fs::write(dir.join("metrics.csv"), format!("{header}1,x,0,0,0\n")).unwrap();
    let bad_number = plot_dir(&dir).unwrap_err().to_string();
    assert!(bad_number.contains("line 2: not a number"), "{bad_number}");
    std::fs::write(
        dir.join("metrics.csv"),
        format!("{header}1,0.5,0.3,NaN,0.2\n"),
    )
    .unwrap();
    std::fs::write(dir.join("test_output_times.npy"), b"\x93NUMPY\x01\x00").unwrap();
    let truncated = plot_dir(&dir).unwrap_err().to_string();
    assert!(
        truncated.contains("test_output_times.npy") && truncated.contains("NumPy"),
        "{truncated}"
    );
    let sim = out_dir("badsim");
    std::fs::create_dir_all(&sim).unwrap();
    std::fs::write(
        sim.join("spikes_time.npy"),
        snnc::results::npy_f64(&[0.1], &[1]),
    )
    .unwrap();
    let no_manifest = plot_dir(&sim).unwrap_err().to_string();
    assert!(no_manifest.contains("manifest.json"), "{no_manifest}");
}

#[test]
fn the_plot_command_prints_the_files_or_fails_with_status_2() {
    let run = |dir: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_snnc"))
            .arg("plot")
            .arg(dir)
            .output()
            .unwrap()
    };
    let empty = out_dir("cli-empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run(&empty);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: ") && stderr.contains("not an snnc results folder"));
    let src = format!(
        "{LIF}
input drive = regular(size = 2, rate = 100 Hz)
population cells = 2 LIF
project drive -> cells one_to_one init constant(3.0)
simulation {{ t_max 30 ms }}
"
    );
    let dir = out_dir("cli");
    simulate(&common::program(&src), &opts(&src, &dir), &mut |_: &str| {}).unwrap();
    let out = run(&dir);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let files: Vec<&str> = stdout.lines().collect();
    assert_eq!(files.len(), 2);
    assert!(files[0].ends_with("plot_raster.svg") && files[1].ends_with("plot_raster.png"));
    check_png(Path::new(files[1]));
    // One dot per spike: the regular input and the cells it drives.
    let spikes = floats(&dir.join("spikes_time.npy")).len();
    assert_eq!(check_svg(Path::new(files[0])).1, spikes);
}
