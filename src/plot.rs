//! `snnc plot DIR`: figures of a results folder, as PNG and SVG next to the data.
//!
//! A training folder gives `plot_metrics` (loss and accuracies by epoch, from `metrics.csv`),
//! `plot_test_output_times` (each test sample's output spike times by class, from
//! `test_output_times.npy` and `test_labels.npy`) and, in `training`, `plot_decision_map` (the
//! Yin-Yang test points coloured by predicted class), `plot_weights` (a histogram per
//! projection of `weights_final.npz`) and `plot_test_raster` (all spikes of the first test
//! samples); each figure is drawn when its files are there. A simulation folder gives
//! `plot_raster` (from `spikes_*.npy` and the manifest's node names) and one
//! `plot_trace_POP_STATE` per recorded trace. `snnc run` calls [`plot_dir`] after a run. Drawing uses plotters without system libraries: text is laid out with the bundled
//! DejaVu Sans (`assets/fonts`, Bitstream Vera licence) through `ab_glyph`, and PNG files are
//! encoded here (RGB, one zlib stream through `miniz_oxide`). Like `results`, every file is
//! written atomically. Bad input is a `PlotError`, never a panic.

use crate::npz::{Values, parse_npy};
use crate::results::write_atomic;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

mod training;

/// Why a folder could not be plotted.
#[derive(Debug)]
pub enum PlotError {
    /// The folder has neither training nor simulation results.
    NotResults { dir: PathBuf },
    /// A file cannot be read or written.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A file is there but its contents are not what snnc writes.
    Malformed { path: PathBuf, reason: String },
    /// plotters failed (a font or drawing error).
    Draw(String),
}

impl std::fmt::Display for PlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlotError::NotResults { dir } => write!(
                f,
                "`{}` is not an snnc results folder: it has neither `metrics.csv` (training) nor `spikes_time.npy` (simulation)",
                dir.display()
            ),
            PlotError::Io { path, error } => write!(f, "`{}`: {error}", path.display()),
            PlotError::Malformed { path, reason } => write!(f, "`{}`: {reason}", path.display()),
            PlotError::Draw(e) => write!(f, "cannot draw: {e}"),
        }
    }
}

const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
const SIZE: (u32, u32) = (960, 540);
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn color(k: usize) -> RGBColor {
    PALETTE[k % PALETTE.len()]
}

/// Writes the figures of the results folder `dir`; returns the files written.
pub fn plot_dir(dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    if !dir.is_dir() {
        return Err(PlotError::Io {
            path: dir.to_path_buf(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
        });
    }
    register_font()?;
    let mut figures = Vec::new();
    if dir.join("metrics.csv").exists() {
        figures.push(("plot_metrics".to_string(), metrics(dir)?));
        if dir.join("test_output_times.npy").exists() {
            figures.push(("plot_test_output_times".to_string(), output_times(dir)?));
        }
        if dir.join("test_points.npy").exists() {
            figures.push(("plot_decision_map".into(), training::decision_map(dir)?));
        }
        if dir.join("weights_final.npz").exists() {
            figures.push(("plot_weights".into(), training::weights(dir)?));
        }
        if dir.join("test_spikes_time.npy").exists()
            && let Some(f) = training::test_raster(dir)?
        {
            figures.push(("plot_test_raster".into(), f));
        }
    } else if dir.join("spikes_time.npy").exists() {
        figures.push(("plot_raster".to_string(), raster(dir)?));
        figures.extend(traces(dir)?);
    } else {
        return Err(PlotError::NotResults {
            dir: dir.to_path_buf(),
        });
    }
    let mut written = Vec::new();
    for (name, figure) in &figures {
        written.extend(write_figure(dir, name, figure)?);
    }
    Ok(written)
}

fn register_font() -> Result<(), PlotError> {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *ONCE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    ok.then_some(())
        .ok_or_else(|| PlotError::Draw("the bundled font cannot be loaded".into()))
}

/// The spikes of one population or input in a raster, on rows of their own.
struct RasterNode {
    name: String,
    /// (time in ms, row).
    spikes: Vec<(f64, f64)>,
}

/// One figure's data, drawn the same way on either backend.
enum Figure {
    Metrics {
        epoch: Vec<f64>,
        loss: Vec<f64>,
        /// (name, values) of the accuracies that have values.
        accuracy: Vec<(&'static str, Vec<f64>)>,
    },
    OutputTimes {
        /// Per test sample: label and output spike times in ms (inf = silent).
        samples: Vec<(usize, Vec<f64>)>,
        outputs: usize,
    },
    Raster {
        nodes: Vec<RasterNode>,
        /// Rows of all nodes together.
        rows: usize,
        t_max_ms: f64,
    },
    Trace {
        title: String,
        time_ms: Vec<f64>,
        /// One series per neuron (at most 10).
        series: Vec<Vec<f64>>,
    },
    DecisionMap(training::DecisionMap),
    Weights(Vec<training::Histogram>),
    TestRaster(training::TestRaster),
}

fn write_figure(dir: &Path, name: &str, figure: &Figure) -> Result<Vec<PathBuf>, PlotError> {
    let draw_err = |e: String| PlotError::Draw(e);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        figure.draw(&root).map_err(draw_err)?;
        root.present().map_err(|e| PlotError::Draw(e.to_string()))?;
    }
    let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        figure.draw(&root).map_err(draw_err)?;
        root.present().map_err(|e| PlotError::Draw(e.to_string()))?;
    }
    let mut out = Vec::new();
    for (ext, bytes) in [("svg", svg.into_bytes()), ("png", png(&rgb, SIZE))] {
        let path = dir.join(format!("{name}.{ext}"));
        write_atomic(&path, &bytes).map_err(|error| PlotError::Io {
            path: path.clone(),
            error,
        })?;
        out.push(path);
    }
    Ok(out)
}

/// A PNG file of RGB pixels (8 bits per channel, no filtering).
pub fn png(rgb: &[u8], (w, h): (u32, u32)) -> Vec<u8> {
    let mut raw = Vec::with_capacity(rgb.len() + h as usize);
    for row in rgb.chunks_exact(w as usize * 3) {
        raw.push(0);
        raw.extend_from_slice(row);
    }
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [
        (b"IHDR", ihdr),
        (b"IDAT", miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6)),
        (b"IEND", Vec::new()),
    ] {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(kind);
        out.extend_from_slice(&data);
        let crc = crate::npz::crc32_update(crate::npz::crc32(kind), &data);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    out
}

/// `lo..hi` widened by 5 % (and made non-empty).
fn padded(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let pad = ((hi - lo) * 0.05).max(1e-9 + lo.abs() * 1e-6);
    lo - pad..hi + pad
}

fn bounds<'v>(values: impl Iterator<Item = &'v f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        })
}

fn legend_box(k: usize) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 4), (x + 14, y + 4)], color(k).filled())
}

type Area<DB> = DrawingArea<DB, Shift>;

impl Figure {
    fn draw<DB: DrawingBackend>(&self, root: &Area<DB>) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        match self {
            Figure::Metrics {
                epoch,
                loss,
                accuracy,
            } => {
                let (left, right) = root.split_horizontally(SIZE.0 / 2);
                let x = padded(bounds(epoch.iter()).0, bounds(epoch.iter()).1);
                let (lo, hi) = bounds(loss.iter());
                let mut chart = ChartBuilder::on(&left)
                    .caption("training loss", ("sans-serif", 20))
                    .margin(12)
                    .x_label_area_size(40)
                    .y_label_area_size(60)
                    .build_cartesian_2d(x.clone(), padded(lo, hi))
                    .map_err(e)?;
                chart
                    .configure_mesh()
                    .x_desc("epoch")
                    .y_desc("loss")
                    .draw()
                    .map_err(e)?;
                let pts: Vec<(f64, f64)> =
                    epoch.iter().copied().zip(loss.iter().copied()).collect();
                chart
                    .draw_series(LineSeries::new(
                        pts.iter().copied(),
                        color(0).stroke_width(2),
                    ))
                    .map_err(e)?;
                chart
                    .draw_series(pts.iter().map(|p| Circle::new(*p, 3, color(0).filled())))
                    .map_err(e)?;
                let mut chart = ChartBuilder::on(&right)
                    .caption("accuracy", ("sans-serif", 20))
                    .margin(12)
                    .x_label_area_size(40)
                    .y_label_area_size(60)
                    .build_cartesian_2d(x, -0.02..1.02)
                    .map_err(e)?;
                chart
                    .configure_mesh()
                    .x_desc("epoch")
                    .y_desc("fraction correct")
                    .draw()
                    .map_err(e)?;
                for (k, (name, values)) in accuracy.iter().enumerate() {
                    let pts: Vec<(f64, f64)> = epoch
                        .iter()
                        .copied()
                        .zip(values.iter().copied())
                        .filter(|(_, v)| v.is_finite())
                        .collect();
                    let c = color(k + 1);
                    chart
                        .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                        .map_err(e)?;
                    chart
                        .draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled())))
                        .map_err(e)?
                        .label(*name)
                        .legend(legend_box(k + 1));
                }
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::LowerRight)
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(e)
            }
            Figure::OutputTimes { samples, outputs } => {
                let classes = samples.iter().map(|s| s.0 + 1).max().unwrap_or(1);
                let (lo, hi) = bounds(samples.iter().flat_map(|s| s.1.iter()));
                let mut chart = ChartBuilder::on(root)
                    .caption(
                        "first output spike of each test sample, by class",
                        ("sans-serif", 20),
                    )
                    .margin(12)
                    .x_label_area_size(40)
                    .y_label_area_size(60)
                    .build_cartesian_2d(-0.5..classes as f64 - 0.5, padded(lo.min(0.0), hi))
                    .map_err(e)?;
                chart
                    .configure_mesh()
                    .x_desc("label (points: output neurons side by side)")
                    .y_desc("time (ms)")
                    .x_labels(classes + 1)
                    .x_label_formatter(&|x| format!("{x:.0}"))
                    .draw()
                    .map_err(e)?;
                for k in 0..*outputs {
                    let pts: Vec<(f64, f64)> = samples
                        .iter()
                        .enumerate()
                        .filter(|(_, (_, t))| t[k].is_finite())
                        .map(|(i, (label, t))| {
                            // Output neurons side by side, samples spread a little (no random).
                            let slot = (k as f64 + 0.5) / *outputs as f64 - 0.5;
                            let spread = ((i * 37) % 100) as f64 / 100.0 - 0.5;
                            let x = *label as f64 + 0.8 * slot + 0.1 * spread / *outputs as f64;
                            (x, t[k])
                        })
                        .collect();
                    chart
                        .draw_series(pts.iter().map(|p| Circle::new(*p, 2, color(k).filled())))
                        .map_err(e)?
                        .label(format!("output {k}"))
                        .legend(legend_box(k));
                }
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperRight)
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(e)
            }
            Figure::Raster {
                nodes,
                rows,
                t_max_ms,
            } => {
                let mut chart = ChartBuilder::on(root)
                    .caption("spike raster", ("sans-serif", 20))
                    .margin(12)
                    .x_label_area_size(40)
                    .y_label_area_size(60)
                    .build_cartesian_2d(0.0..*t_max_ms, -0.5..*rows as f64 - 0.5)
                    .map_err(e)?;
                chart
                    .configure_mesh()
                    .x_desc("time (ms)")
                    .y_desc("neuron (nodes stacked)")
                    .draw()
                    .map_err(e)?;
                for (k, node) in nodes.iter().enumerate() {
                    chart
                        .draw_series(
                            node.spikes
                                .iter()
                                .map(|p| Circle::new(*p, 2, color(k).filled())),
                        )
                        .map_err(e)?
                        .label(node.name.as_str())
                        .legend(legend_box(k));
                }
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperRight)
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(e)
            }
            Figure::Trace {
                title,
                time_ms,
                series,
            } => {
                let (lo, hi) = bounds(series.iter().flatten());
                let (t0, t1) = bounds(time_ms.iter());
                let mut chart = ChartBuilder::on(root)
                    .caption(title.as_str(), ("sans-serif", 20))
                    .margin(12)
                    .x_label_area_size(40)
                    .y_label_area_size(60)
                    .build_cartesian_2d(padded(t0, t1), padded(lo, hi))
                    .map_err(e)?;
                chart
                    .configure_mesh()
                    .x_desc("time (ms)")
                    .y_desc("value (SI)")
                    .draw()
                    .map_err(e)?;
                for (k, values) in series.iter().enumerate() {
                    let pts = time_ms.iter().copied().zip(values.iter().copied());
                    chart
                        .draw_series(LineSeries::new(pts, color(k)))
                        .map_err(e)?;
                }
                Ok(())
            }
            Figure::DecisionMap(m) => training::draw_decision_map(m, root),
            Figure::Weights(h) => training::draw_weights(h, root),
            Figure::TestRaster(r) => training::draw_test_raster(r, root),
        }
    }
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>, PlotError> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|error| PlotError::Io { path, error })
}

fn malformed(dir: &Path, name: &str, reason: impl Into<String>) -> PlotError {
    PlotError::Malformed {
        path: dir.join(name),
        reason: reason.into(),
    }
}

/// A `float64` or `int64` `.npy` of the folder as floats, with its shape.
fn npy(dir: &Path, name: &str) -> Result<(Vec<f64>, Vec<usize>), PlotError> {
    let a = parse_npy(&read(dir, name)?).map_err(|r| malformed(dir, name, r))?;
    let values = match a.values {
        Values::Float(v) => v,
        Values::Int(v) => v.into_iter().map(|x| x as f64).collect(),
    };
    Ok((values, a.shape))
}

fn metrics(dir: &Path) -> Result<Figure, PlotError> {
    let name = "metrics.csv";
    let text =
        String::from_utf8(read(dir, name)?).map_err(|_| malformed(dir, name, "not UTF-8 text"))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |c: &str| {
        header
            .iter()
            .position(|h| *h == c)
            .ok_or_else(|| malformed(dir, name, format!("the header has no column `{c}`")))
    };
    let cols = [
        col("epoch")?,
        col("loss")?,
        col("train_accuracy")?,
        col("validation_accuracy")?,
        col("test_accuracy")?,
    ];
    let mut data: [Vec<f64>; 5] = Default::default();
    for (n, line) in lines.enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        for (k, c) in cols.iter().enumerate() {
            let v = fields
                .get(*c)
                .and_then(|f| f.trim().parse::<f64>().ok())
                .ok_or_else(|| {
                    malformed(
                        dir,
                        name,
                        format!("line {}: not a number in column {}", n + 2, c + 1),
                    )
                })?;
            data[k].push(v);
        }
    }
    if data[0].is_empty() {
        return Err(malformed(dir, name, "no epochs yet (only a header)"));
    }
    let [epoch, loss, train, validation, test] = data;
    let accuracy = [("train", train), ("validation", validation), ("test", test)]
        .into_iter()
        .filter(|(_, v)| v.iter().any(|x| x.is_finite()))
        .collect();
    Ok(Figure::Metrics {
        epoch,
        loss,
        accuracy,
    })
}

fn output_times(dir: &Path) -> Result<Figure, PlotError> {
    let (times, shape) = npy(dir, "test_output_times.npy")?;
    let (labels, lshape) = npy(dir, "test_labels.npy")?;
    let [n, outputs] = shape[..] else {
        return Err(malformed(
            dir,
            "test_output_times.npy",
            format!("shape {shape:?}, expected (samples, outputs)"),
        ));
    };
    if lshape != [n] {
        return Err(malformed(
            dir,
            "test_labels.npy",
            format!("shape {lshape:?}, expected ({n},)"),
        ));
    }
    let samples = (0..n)
        .map(|i| {
            let t = times[i * outputs..(i + 1) * outputs]
                .iter()
                .map(|t| t * 1e3)
                .collect();
            (labels[i].max(0.0) as usize, t)
        })
        .collect();
    Ok(Figure::OutputTimes { samples, outputs })
}

fn manifest(dir: &Path) -> Result<serde_json::Value, PlotError> {
    let name = "manifest.json";
    serde_json::from_slice(&read(dir, name)?).map_err(|e| malformed(dir, name, e.to_string()))
}

/// The node names by code, from the manifest's `details.node_codes`.
fn node_names(dir: &Path, m: &serde_json::Value) -> Result<Vec<String>, PlotError> {
    m["details"]["node_codes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .ok_or_else(|| malformed(dir, "manifest.json", "no `details.node_codes`"))
}

/// Raster rows per node: its size from the manifest, else its largest spiking index + 1.
/// `node` and `neuron` are valid codes and indices.
fn node_rows(m: &serde_json::Value, names: &[String], node: &[f64], neuron: &[f64]) -> Vec<usize> {
    names
        .iter()
        .enumerate()
        .map(|(k, n)| {
            let declared = ["populations", "inputs"].iter().find_map(|list| {
                m[list].as_array().and_then(|ps| {
                    ps.iter()
                        .find(|p| p["name"].as_str() == Some(n))
                        .and_then(|p| p["size"].as_u64())
                })
            });
            let seen = node
                .iter()
                .zip(neuron)
                .filter(|(c, _)| **c as usize == k)
                .map(|(_, i)| *i as usize + 1)
                .max()
                .unwrap_or(0);
            (declared.unwrap_or(0) as usize).max(seen).max(1)
        })
        .collect()
}

fn raster(dir: &Path) -> Result<Figure, PlotError> {
    let m = manifest(dir)?;
    let names = node_names(dir, &m)?;
    let (time, ts) = npy(dir, "spikes_time.npy")?;
    let (node, ns) = npy(dir, "spikes_node.npy")?;
    let (neuron, rs) = npy(dir, "spikes_neuron.npy")?;
    if ts.len() != 1 || ns != ts || rs != ts {
        return Err(malformed(
            dir,
            "spikes_time.npy",
            "the three spike arrays must have the same length",
        ));
    }
    if let Some(s) = node
        .iter()
        .find(|c| **c < 0.0 || **c as usize >= names.len())
    {
        return Err(malformed(
            dir,
            "spikes_node.npy",
            format!("node code {s} is not in the manifest"),
        ));
    }
    let sizes = node_rows(&m, &names, &node, &neuron);
    let mut first = 0;
    let mut nodes = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let spikes = (0..time.len())
            .filter(|&s| node[s] as usize == k)
            .map(|s| (time[s] * 1e3, (first + neuron[s] as usize) as f64))
            .collect();
        nodes.push(RasterNode {
            name: name.clone(),
            spikes,
        });
        first += sizes[k];
    }
    let t_max_ms = m["t_max_s"]
        .as_f64()
        .unwrap_or_else(|| bounds(time.iter()).1.max(1e-3))
        * 1e3;
    Ok(Figure::Raster {
        nodes,
        rows: first.max(1),
        t_max_ms,
    })
}

fn traces(dir: &Path) -> Result<Vec<(String, Figure)>, PlotError> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|error| PlotError::Io {
            path: dir.to_path_buf(),
            error,
        })?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("trace_") && n.ends_with(".npy") && n != "trace_time.npy")
        .collect();
    names.sort();
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let (t, _) = npy(dir, "trace_time.npy")?;
    let time_ms: Vec<f64> = t.iter().map(|x| x * 1e3).collect();
    let mut out = Vec::new();
    for name in names {
        let (v, shape) = npy(dir, &name)?;
        let [steps, neurons] = shape[..] else {
            return Err(malformed(dir, &name, "expected shape (steps, neurons)"));
        };
        if steps != time_ms.len() {
            return Err(malformed(
                dir,
                &name,
                format!("{steps} steps, but `trace_time.npy` has {}", time_ms.len()),
            ));
        }
        let series = (0..neurons.min(10))
            .map(|i| (0..steps).map(|s| v[s * neurons + i]).collect())
            .collect();
        let stem = name.trim_end_matches(".npy").to_string();
        let title = format!(
            "{} (first {} neurons)",
            stem.trim_start_matches("trace_"),
            neurons.min(10)
        );
        out.push((
            format!("plot_{stem}"),
            Figure::Trace {
                title,
                time_ms: time_ms.clone(),
                series,
            },
        ));
    }
    Ok(out)
}
