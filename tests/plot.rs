//! `snnc plot`: figures of results folders written by real (tiny) runs are valid PNG files of
//! the stated size and SVG files with one marker per data point; folders that are empty or
//! damaged give clear errors.

mod common;

use snnc::npz::{Values, parse_npy};
use snnc::plot::plot_dir;
use snnc::runner::{RunOptions, simulate, train};
use snnc::sim::kernels::Backend;
use std::path::{Path, PathBuf};

fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("snnc-plot-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
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
            "plot_test_output_times.png"
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
