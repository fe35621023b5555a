//! Spike data files (`input NAME = file(...)`): training on a file that holds exactly the
//! built-in Yin-Yang samples gives bit-identical results to the built-in input; files written
//! by NumPy itself (`savez`, `savez_compressed`, a Fortran-ordered `float32` `.npy`) read back
//! as written; a simulation injects a file's spikes; and every mistake in a file is a clear
//! error that names the file and the place.

mod common;

use snnc::results::{npy_f64, npy_i64};
use snnc::runner::{RunOptions, simulate, train};
use snnc::sema::hir::InputKind;
use snnc::sim::kernels::Backend;
use snnc::train::data::{Dataset, Sample};
use snnc::train::files::{self, FileSpec};
use std::fmt::Write as _;
use std::path::Path;

const NETWORK: &str = "
neuron LIF {
    param tau_mem = 10 ms
    param tau_syn = 5 ms
    param v_th = 1.0
    state v = 0.0
    state i = 0.0
    d/dt v = (i - v) / tau_mem
    d/dt i = -i / tau_syn
    receptor syn(w) { i += w }
    spike when v >= v_th
    on spike { v = -1000.0 }
}
population hidden = 12 LIF
population out = 3 LIF
project data -> hidden dense init normal(3.0, 1.6)
project hidden -> out dense init normal(0.5, 0.8)
simulation { mode event  t_max 20 ms }
train {
    output out
    data data
    loss first_spike_ce(tau = 0.5 ms, alpha = 0.005, beta = 2.0)
    gradient eventprop
    optimizer adam(lr = 5e-3)
    weight_bump 5e-3
    epochs 2
    batch 16
}
";

const YINYANG: &str =
    "input data = yinyang(train = 64, validation = 16, test = 16, seed = 3, t_late = 10 ms)\n";

fn out_dir(name: &str) -> common::TempDir {
    common::TempDir::new(&format!("data-{name}"), true)
}

fn opts(src: &str, out: &Path, base: &Path) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        threads: 2,
        backend: Backend::Jit,
        source_name: "test.snn".into(),
        source_text: src.into(),
        overrides: vec![],
        resume: false,
        base_dir: base.to_path_buf(),
        chip: false,
    }
}

/// Trains `src` (data paths relative to `base`) and returns the final weights file and the
/// metrics without the wall-clock columns.
fn train_run(src: &str, out: &Path, base: &Path) -> (Vec<u8>, Vec<String>) {
    let p = common::program(src);
    train(&p, &opts(src, out, base), &mut |_: &str| {}).unwrap();
    let metrics = std::fs::read_to_string(out.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(',').collect();
            f.remove(9); // train_seconds
            f.remove(5); // seconds
            f.join(",")
        })
        .collect();
    (
        std::fs::read(out.join("weights_final.npz")).unwrap(),
        metrics,
    )
}

fn yinyang_dataset() -> Dataset {
    let p = common::program(&format!("{YINYANG}{NETWORK}"));
    let InputKind::YinYang(cfg) = &p.inputs[0].kind else {
        unreachable!()
    };
    Dataset::yinyang(cfg)
}

/// One spike per channel: the `(samples, channels)` array of a split.
fn times_array(set: &[Sample], channels: usize) -> Vec<f64> {
    let mut out = vec![f64::INFINITY; set.len() * channels];
    for (s, sample) in set.iter().enumerate() {
        for (t, c) in &sample.spikes {
            assert!(out[s * channels + *c as usize].is_infinite());
            out[s * channels + *c as usize] = *t;
        }
    }
    out
}

fn npz_of(data: &Dataset, channels: usize) -> Vec<u8> {
    let mut entries = Vec::new();
    for (name, set) in [
        ("train", &data.train),
        ("validation", &data.validation),
        ("test", &data.test),
    ] {
        let labels: Vec<i64> = set.iter().map(|s| s.label as i64).collect();
        entries.push((
            format!("{name}_times"),
            npy_f64(&times_array(set, channels), &[set.len(), channels]),
        ));
        entries.push((format!("{name}_labels"), npy_i64(&labels, &[set.len()])));
    }
    snnc::npz::write_npz(&entries).unwrap()
}

fn csv_of(data: &Dataset) -> String {
    let mut csv = String::from("split,sample,channel,time,label\n");
    for (name, set) in [
        ("train", &data.train),
        ("validation", &data.validation),
        ("test", &data.test),
    ] {
        for (k, s) in set.iter().enumerate() {
            // Rust prints the shortest text that parses back to the same f64.
            for (t, c) in &s.spikes {
                let _ = writeln!(csv, "{name},{k},{c},{t},{}", s.label);
            }
        }
    }
    csv
}

#[test]
fn training_on_a_file_of_yinyang_samples_is_bit_identical_to_yinyang() {
    let data = yinyang_dataset();
    let dir = out_dir("yy");
    std::fs::write(dir.join("yy.npz"), npz_of(&data, 5)).unwrap();
    std::fs::write(dir.join("yy.csv"), csv_of(&data)).unwrap();
    let reference = train_run(&format!("{YINYANG}{NETWORK}"), &dir.join("builtin"), &dir);
    for file in ["yy.npz", "yy.csv"] {
        let src = format!("input data = file(path = \"{file}\", size = 5)\n{NETWORK}");
        let got = train_run(&src, &dir.join(file.replace('.', "_")), &dir);
        assert_eq!(got.1, reference.1, "{file}: metrics differ");
        assert_eq!(got.0, reference.0, "{file}: final weights differ");
    }
    // Times in milliseconds with `time_unit = 1 ms` give the same samples up to rounding of
    // the unit conversion, so the same decisions and nearly the same weights.
    let spec = |path: &str, time_unit| FileSpec {
        path: path.into(),
        channels: 5,
        time_unit,
        classes: Some(3),
    };
    let mut ms = data.clone();
    for s in ms
        .train
        .iter_mut()
        .chain(&mut ms.test)
        .chain(&mut ms.validation)
    {
        s.spikes.iter_mut().for_each(|(t, _)| *t *= 1e3);
    }
    let read = files::dataset(&spec("ms.npz", 1e-3), &npz_of(&ms, 5)).unwrap();
    for (a, b) in read.train.iter().zip(&data.train) {
        assert_eq!(a.label, b.label);
        for (x, y) in a.spikes.iter().zip(&b.spikes) {
            assert!((x.0 - y.0).abs() <= 1e-15 && x.1 == y.1);
        }
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

fn spec3(path: &str) -> FileSpec {
    FileSpec {
        path: path.into(),
        channels: 3,
        time_unit: 1.0,
        classes: Some(3),
    }
}

/// The fixtures were written by NumPy 2.4 (`tests/data/`, see the test below for the values).
#[test]
fn files_written_by_numpy_read_back_as_written() {
    let stored = files::dataset(&spec3("numpy_savez.npz"), &fixture("numpy_savez.npz")).unwrap();
    let deflated = files::dataset(
        &spec3("numpy_savez_compressed.npz"),
        &fixture("numpy_savez_compressed.npz"),
    )
    .unwrap();
    assert_eq!(stored, deflated);
    // train_times[0] = [0.001, 0.002, inf], train_times[1] = [0, 0.0005, 0.003], ...
    assert_eq!(stored.train.len(), 4);
    assert_eq!(stored.train[0].spikes, vec![(0.001, 0), (0.002, 1)]);
    assert_eq!(
        stored.train[1].spikes,
        vec![(0.0, 0), (0.0005, 1), (0.003, 2)]
    );
    assert_eq!(
        stored.train[3].spikes,
        vec![(0.002, 0), (0.002, 1), (0.002, 2)]
    );
    let labels: Vec<usize> = stored.train.iter().map(|s| s.label).collect();
    assert_eq!(labels, vec![0, 1, 2, 1]);
    assert!(stored.validation.is_empty());
    // test_labels is int32; test_times[1] = [inf, inf, 0.0015].
    assert_eq!(stored.test[1].spikes, vec![(0.0015, 2)]);
    assert_eq!(
        stored.test.iter().map(|s| s.label).collect::<Vec<_>>(),
        [2, 0]
    );
    // A float32 (2, 3) array in Fortran order: columns are channels, padded with inf.
    let trains = files::spike_trains(
        &spec3("numpy_trains_fortran_f32.npy"),
        &fixture("numpy_trains_fortran_f32.npy"),
    )
    .unwrap();
    let f = |x: f32| x as f64;
    assert_eq!(trains, vec![(f(0.001), 0), (f(0.002), 1), (f(0.005), 0)]);
}

#[test]
fn a_simulation_injects_the_spikes_of_a_file() {
    let dir = out_dir("sim");
    // Channel 0 spikes at 1 ms and 4 ms, channel 1 at 2 ms; 30 ms is after t_max.
    let trains = npy_f64(
        &[1.0, 2.0, 4.0, f64::INFINITY, 30.0, f64::INFINITY],
        &[3, 2],
    );
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/spikes.npy"), trains).unwrap();
    std::fs::write(
        dir.join("in/spikes.csv"),
        "time,channel\n0.004,0\n0.001,0\n0.002,1\n",
    )
    .unwrap();
    for (file, unit) in [("in/spikes.npy", "1 ms"), ("in/spikes.csv", "1 s")] {
        let src = format!(
            "
neuron LIF {{
    param tau = 10 ms
    state v = 0.0
    d/dt v = -v / tau
    receptor syn(w) {{ v += w }}
    spike when v >= 1.0
    on spike {{ v = 0.0 }}
}}
input rec = file(path = \"{file}\", size = 2, time_unit = {unit})
population p = 1 LIF
project rec -> p dense init constant(0.6)
simulation {{ t_max 20 ms }}
"
        );
        let p = common::program(&src);
        let out = dir.join(file.replace(['/', '.'], "_"));
        simulate(&p, &opts(&src, &out, &dir), &mut |_: &str| {}).unwrap();
        let csv = std::fs::read_to_string(out.join("spikes.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        // Input spikes first (sorted), then the neuron, which fires at the second input spike.
        assert_eq!(
            lines,
            [
                "node,neuron,time_s",
                "rec,0,1e-3",
                "rec,1,2e-3",
                "rec,0,4e-3",
                "p,0,2e-3"
            ],
            "{file}"
        );
    }
}

/// The error of reading `bytes` as training data (or as spike trains with `trains`).
fn error(path: &str, bytes: &[u8], trains: bool) -> String {
    let spec = spec3(path);
    if trains {
        files::spike_trains(&spec, bytes).unwrap_err().to_string()
    } else {
        files::dataset(&spec, bytes).unwrap_err().to_string()
    }
}

fn npz(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let e: Vec<(String, Vec<u8>)> = entries
        .iter()
        .map(|(n, b)| (n.to_string(), b.clone()))
        .collect();
    snnc::npz::write_npz(&e).unwrap()
}

/// A valid training `.npz` with `train_times` replaced.
fn with_train_times(times: &[f64], shape: &[usize]) -> Vec<u8> {
    let n = shape[0];
    npz(&[
        ("train_times", npy_f64(times, shape)),
        ("train_labels", npy_i64(&vec![0; n], &[n])),
        ("test_times", npy_f64(&[0.0, 0.0, 0.0], &[1, 3])),
        ("test_labels", npy_i64(&[1], &[1])),
    ])
}

#[track_caller]
fn assert_says(message: &str, parts: &[&str]) {
    for p in parts {
        assert!(message.contains(p), "`{message}` does not say `{p}`");
    }
}

#[test]
fn every_mistake_in_a_file_is_a_clear_error() {
    let ok_times = npy_f64(&[0.0; 6], &[2, 3]);
    // Wrong number of channels.
    assert_says(
        &error("d.npz", &with_train_times(&[0.0; 4], &[2, 2]), false),
        &["`d.npz`", "`train_times` has shape (2, 2)", "(samples, 3)"],
    );
    // Labels length differs from the number of samples.
    let short_labels = npz(&[
        ("train_times", ok_times.clone()),
        ("train_labels", npy_i64(&[0], &[1])),
        ("test_times", ok_times.clone()),
        ("test_labels", npy_i64(&[0, 0], &[2])),
    ]);
    assert_says(
        &error("d.npz", &short_labels, false),
        &["`train_labels` has shape (1,)", "expected (2,)"],
    );
    // NaN, negative and unsorted times, each with sample and channel.
    let nan = with_train_times(&[0.0, 0.0, 0.0, 0.0, f64::NAN, 0.0], &[2, 3]);
    assert_says(
        &error("d.npz", &nan, false),
        &["sample 1 of `train_times`, channel 1", "NaN"],
    );
    let negative = with_train_times(&[0.0, 0.0, -1e-3, 0.0, 0.0, 0.0], &[2, 3]);
    assert_says(
        &error("d.npz", &negative, false),
        &["sample 0 of `train_times`, channel 2", "-0.001 is negative"],
    );
    // (1 sample, 2 spikes, 3 channels): channel 1 has 5 ms, then 2 ms.
    let unsorted = with_train_times(&[0.0, 0.005, 0.0, 0.0, 0.002, 0.0], &[1, 2, 3]);
    assert_says(
        &error("d.npz", &unsorted, false),
        &["channel 1, spike 1", "earlier than the one before it"],
    );
    // Labels out of range (3 classes) and negative.
    let bad_label = npz(&[
        ("train_times", ok_times.clone()),
        ("train_labels", npy_i64(&[0, 3], &[2])),
        ("test_times", ok_times.clone()),
        ("test_labels", npy_i64(&[0, 0], &[2])),
    ]);
    assert_says(
        &error("d.npz", &bad_label, false),
        &[
            "sample 1 of `train_labels`",
            "label 3 is out of range",
            "0 to 2",
        ],
    );
    // Unsupported dtypes: big-endian times, float labels.
    let mut big_endian = ok_times.clone();
    let at = big_endian.windows(3).position(|w| w == b"<f8").unwrap();
    big_endian[at] = b'>';
    assert_says(
        &error("t.npy", &big_endian, true),
        &["`t.npy`", "unsupported dtype `>f8`"],
    );
    let float_labels = npz(&[
        ("train_times", ok_times.clone()),
        ("train_labels", npy_f64(&[0.0, 1.0], &[2])),
        ("test_times", ok_times.clone()),
        ("test_labels", npy_i64(&[0, 0], &[2])),
    ]);
    assert_says(
        &error("d.npz", &float_labels, false),
        &["`train_labels` has dtype `<f8`", "int64 or int32"],
    );
    // Missing and misspelt arrays.
    let missing = npz(&[
        ("train_times", ok_times.clone()),
        ("train_labels", npy_i64(&[0, 0], &[2])),
        ("test_times", ok_times.clone()),
    ]);
    assert_says(
        &error("d.npz", &missing, false),
        &["`test_labels` is missing"],
    );
    let misspelt = npz(&[("tset_times", ok_times.clone())]);
    assert_says(
        &error("d.npz", &misspelt, false),
        &["unexpected array `tset_times`"],
    );
    // Archives: not a zip, truncated, an unsupported compression method.
    assert_says(&error("d.npz", b"hello", false), &["not a zip archive"]);
    let good = fixture("numpy_savez_compressed.npz");
    assert_says(
        &error("d.npz", &good[..good.len() - 30], false),
        &["`d.npz`"],
    );
    let mut bzip = fixture("numpy_savez.npz");
    // Method field of the first central directory entry (offset 10) set to 12 (bzip2).
    let cd = bzip.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    bzip[cd + 10] = 12;
    assert_says(
        &error("d.npz", &bzip, false),
        &["compression method 12", "stored and deflated"],
    );
    // A damaged deflate stream or checksum.
    let mut flipped = good.clone();
    flipped[100] ^= 0xFF;
    assert_says(&error("d.npz", &flipped, false), &["`train_times"]);
    // Kinds of file that do not fit the use.
    assert_says(
        &error("d.npy", &ok_times, false),
        &["cannot be training data"],
    );
    assert_says(&error("d.npz", &good, true), &["only a train section uses"]);
    assert_says(&error("d.txt", b"", true), &["unknown file type"]);
    // CSV: header, fields, channel, time, labels, gaps.
    let csv = |text: &str| error("d.csv", text.as_bytes(), false);
    assert_says(
        &csv("a,b\n"),
        &["header line must name", "split,sample,channel,time,label"],
    );
    assert_says(
        &csv("split,sample,channel,time,label\ntrain,0,0,0.001\n"),
        &["line 2 has 4 fields"],
    );
    assert_says(
        &csv("split,sample,channel,time,label\ntrain,0,3,0.001,0\n"),
        &["line 2: channel 3 does not exist", "3 channels"],
    );
    assert_says(
        &csv("split,sample,channel,time,label\ntrain,0,0,nan,0\ntest,0,0,0,0\n"),
        &["line 2", "NaN"],
    );
    assert_says(
        &csv("split,sample,channel,time,label\ntrain,0,0,-1,0\ntest,0,0,0,0\n"),
        &["line 2", "negative"],
    );
    assert_says(
        &csv("split,sample,channel,time,label\ntrain,0,0,x,0\n"),
        &["line 2: `x` is not a valid `time`"],
    );
    assert_says(
        &csv("split,sample,channel,time,label\ntrain,0,0,0,7\n"),
        &["line 2", "label 7 is out of range"],
    );
    assert_says(
        &csv("split,sample,channel,time,label\ntrain,0,0,0,1\ntrain,0,1,0,2\n"),
        &["line 3", "label 2 here but 1 on line 2"],
    );
    assert_says(
        &csv("split,sample,channel,time,label\ntrain,1,0,0,1\ntest,0,,,0\n"),
        &["sample 0 of split `train` has no line"],
    );
    assert_says(
        &csv("split,sample,channel,time,label\ntrain,0,0,0,1\n"),
        &["the split `test` has no samples"],
    );
    assert_says(
        &csv("split,sample,channel,time,label\ntrian,0,0,0,1\n"),
        &["unknown split `trian`"],
    );
    assert_says(&error("d.csv", b"\xff\xfe", false), &["UTF-8"]);
}

#[test]
fn a_missing_file_names_the_path_and_the_folder_it_was_looked_for_in() {
    let dir = out_dir("missing");
    let src = format!("input data = file(path = \"nowhere/d.npz\", size = 5)\n{NETWORK}");
    let p = common::program(&src);
    let err = train(&p, &opts(&src, &dir.join("out"), &dir), &mut |_: &str| {})
        .unwrap_err()
        .to_string();
    assert_says(
        &err,
        &[
            "cannot read spike data `nowhere/d.npz`",
            "looked for",
            "nowhere/d.npz",
        ],
    );
}

#[test]
fn csv_columns_in_any_order_and_a_sample_without_spikes() {
    let text = "label,time,channel,sample,split\n\
                1,0.002,2,0,train\n\
                1,0.001,0,0,train\n\
                0,,,1,train\n\
                2,0.003,1,0,test\n";
    let d = files::dataset(&spec3("d.csv"), text.as_bytes()).unwrap();
    let sample = |spikes: Vec<(f64, u32)>, label| Sample { spikes, label };
    assert_eq!(
        d.train,
        [sample(vec![(0.001, 0), (0.002, 2)], 1), sample(vec![], 0)]
    );
    assert!(d.validation.is_empty());
    assert_eq!(d.test, [sample(vec![(0.003, 1)], 2)]);
}

/// A `file` input that is not the training data gives the same spikes in every sample: a file
/// with the spike trains of a `regular` input trains bit-identically to that input.
#[test]
fn a_fixed_file_input_trains_like_the_generator_it_recorded() {
    let clock = "input clock = regular(size = 2, rate = 250 Hz, phase = 1 ms)\n\
                 project clock -> hidden dense init constant(0.2)\n";
    let generated = common::program(&format!("{YINYANG}{clock}{NETWORK}"));
    let trains = &snnc::sim::inputs::generate(&generated, 0, generated.simulation.t_max)[1];
    // (k, 2) with k spikes per channel, in seconds.
    let k = trains.len() / 2;
    let mut array = vec![0.0; 2 * k];
    for c in 0..2u32 {
        let times: Vec<f64> = trains.iter().filter(|s| s.1 == c).map(|s| s.0).collect();
        assert_eq!(times.len(), k);
        for (j, t) in times.iter().enumerate() {
            array[j * 2 + c as usize] = *t;
        }
    }
    let dir = out_dir("fixed");
    std::fs::write(dir.join("clock.npy"), npy_f64(&array, &[k, 2])).unwrap();
    let reference = train_run(
        &format!("{YINYANG}{clock}{NETWORK}"),
        &dir.join("regular"),
        &dir,
    );
    let from_file = clock.replace(
        "regular(size = 2, rate = 250 Hz, phase = 1 ms)",
        "file(path = \"clock.npy\", size = 2)",
    );
    let got = train_run(
        &format!("{YINYANG}{from_file}{NETWORK}"),
        &dir.join("file"),
        &dir,
    );
    assert_eq!(got, reference);
    // The clock matters: without its spikes (a file of shape (0, 2)) training differs.
    std::fs::write(dir.join("silent.npy"), npy_f64(&[], &[0, 2])).unwrap();
    let silent = from_file.replace("clock.npy", "silent.npy");
    let without = train_run(
        &format!("{YINYANG}{silent}{NETWORK}"),
        &dir.join("silent"),
        &dir,
    );
    assert_ne!(without.0, reference.0);
}

/// A checkpoint remembers the data it was trained on: resuming on a changed file is refused.
#[test]
fn resuming_on_changed_data_is_refused() {
    let data = yinyang_dataset();
    let dir = out_dir("resume");
    std::fs::write(dir.join("yy.npz"), npz_of(&data, 5)).unwrap();
    let src = format!("input data = file(path = \"yy.npz\", size = 5)\n{NETWORK}");
    let out = dir.join("out");
    train_run(&src, &out, &dir);
    let mut changed = data.clone();
    changed.train[0].label = (changed.train[0].label + 1) % 3;
    std::fs::write(dir.join("yy.npz"), npz_of(&changed, 5)).unwrap();
    let mut p = common::program(&src);
    p.training.as_mut().unwrap().epochs = 3;
    let mut o = opts(&src, &out, &dir);
    o.resume = true;
    let err = train(&p, &o, &mut |_: &str| {}).unwrap_err().to_string();
    assert!(err.contains("different program"), "{err}");
}

/// Damaged files never panic: every truncation and every flipped byte of the NumPy fixtures
/// reads as a dataset or gives an error.
#[test]
fn damaged_files_give_errors_not_panics() {
    for name in [
        "numpy_savez.npz",
        "numpy_savez_compressed.npz",
        "numpy_trains_fortran_f32.npy",
    ] {
        let good = fixture(name);
        let read = |bytes: &[u8]| {
            let _ = files::dataset(&spec3(name), bytes);
            let _ = files::spike_trains(&spec3(name), bytes);
            let _ = snnc::npz::parse_npy(bytes);
        };
        for len in 0..good.len() {
            read(&good[..len]);
        }
        for at in 0..good.len() {
            for flip in [0x01, 0x80, 0xFF] {
                let mut bad = good.clone();
                bad[at] ^= flip;
                read(&bad);
            }
        }
    }
}

/// Up to `k` spikes per channel: `(samples, k, channels)`, each column sorted, padded with inf.
#[test]
fn several_spikes_per_channel_read_in_time_order() {
    let inf = f64::INFINITY;
    // One sample, k = 2, 3 channels: channel 0 at 1 and 4 ms, channel 1 at 2 ms, channel 2 silent.
    let times = [0.001, 0.002, inf, 0.004, inf, inf];
    let d = files::dataset(&spec3("d.npz"), &with_train_times(&times, &[1, 2, 3])).unwrap();
    assert_eq!(d.train[0].spikes, [(0.001, 0), (0.002, 1), (0.004, 0)]);
}
