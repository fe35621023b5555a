//! The figures of a training folder beyond the metrics: the Yin-Yang decision map
//! (`plot_decision_map`, from `test_points.npy`, `test_predictions.npy` and `test_labels.npy`),
//! one weight histogram per projection (`plot_weights`, from `weights_final.npz`) and a spike
//! raster of the saved test samples (`plot_test_raster`, from `test_spikes_*.npy`). Each is read
//! and checked by a function here and drawn by `Figure::draw` through the `draw_*` functions.

use super::{
    Area, Figure, PlotError, RasterNode, SIZE, bounds, color, malformed, manifest, node_names,
    node_rows, npy, read,
};
use crate::npz::{Values, parse_npy, read_npz};
use plotters::prelude::*;
use std::path::Path;

/// Test points with the trainer's prediction and the label of each.
pub(super) struct DecisionMap {
    points: Vec<(f64, f64)>,
    predicted: Vec<Option<usize>>,
    labels: Vec<usize>,
}

/// The weights of one projection, binned.
pub(super) struct Histogram {
    name: String,
    /// Number of weights (absent synapses of sparse projections count as 0).
    count: usize,
    lo: f64,
    width: f64,
    bins: Vec<usize>,
}

/// The spikes of one saved test sample.
pub(super) struct RasterPanel {
    title: String,
    nodes: Vec<RasterNode>,
}

/// The spikes of the first test samples, one panel each, with rows like `plot_raster`.
pub(super) struct TestRaster {
    names: Vec<String>,
    panels: Vec<RasterPanel>,
    rows: usize,
    t_max_ms: f64,
}

const BINS: usize = 30;
const GREY: RGBColor = RGBColor(170, 170, 170);

/// A column of `n` class numbers (`int64`): labels are at least 0, predictions at least -1
/// (no prediction).
fn classes(dir: &Path, name: &str, n: usize, lowest: f64) -> Result<Vec<f64>, PlotError> {
    let (v, shape) = npy(dir, name)?;
    if shape != [n] {
        return Err(malformed(
            dir,
            name,
            format!("shape {shape:?}, expected ({n},)"),
        ));
    }
    if let Some(c) = v.iter().find(|c| c.fract() != 0.0 || **c < lowest) {
        return Err(malformed(dir, name, format!("{c} is not a class number")));
    }
    Ok(v)
}

/// The test labels and their number.
fn labels(dir: &Path) -> Result<Vec<usize>, PlotError> {
    let name = "test_labels.npy";
    let (_, shape) = npy(dir, name)?;
    let [n] = shape[..] else {
        return Err(malformed(
            dir,
            name,
            format!("shape {shape:?}, expected (samples,)"),
        ));
    };
    Ok(classes(dir, name, n, 0.0)?
        .into_iter()
        .map(|c| c as usize)
        .collect())
}

fn predictions(dir: &Path, n: usize) -> Result<Vec<Option<usize>>, PlotError> {
    Ok(classes(dir, "test_predictions.npy", n, -1.0)?
        .into_iter()
        .map(|c| (c >= 0.0).then_some(c as usize))
        .collect())
}

pub(super) fn decision_map(dir: &Path) -> Result<Figure, PlotError> {
    let name = "test_points.npy";
    let (xy, shape) = npy(dir, name)?;
    let [n, 2] = shape[..] else {
        return Err(malformed(
            dir,
            name,
            format!("shape {shape:?}, expected (samples, 2)"),
        ));
    };
    if xy.iter().any(|v| !v.is_finite()) {
        return Err(malformed(dir, name, "a coordinate is not a finite number"));
    }
    let labels = labels(dir)?;
    if labels.len() != n {
        return Err(malformed(
            dir,
            name,
            format!("{n} points, but `test_labels.npy` has {}", labels.len()),
        ));
    }
    Ok(Figure::DecisionMap(DecisionMap {
        points: xy.chunks_exact(2).map(|p| (p[0], p[1])).collect(),
        predicted: predictions(dir, n)?,
        labels,
    }))
}

pub(super) fn weights(dir: &Path) -> Result<Figure, PlotError> {
    let name = "weights_final.npz";
    let entries = read_npz(&read(dir, name)?).map_err(|r| malformed(dir, name, r))?;
    if entries.is_empty() {
        return Err(malformed(dir, name, "the archive has no arrays"));
    }
    let mut out = Vec::new();
    for (array, bytes) in entries {
        let wrong = |r: String| malformed(dir, name, format!("array `{array}`: {r}"));
        let a = parse_npy(&bytes).map_err(wrong)?;
        if a.shape.len() != 2 {
            return Err(wrong(format!(
                "shape {:?}, expected (n_pre, n_post)",
                a.shape
            )));
        }
        let values = match a.values {
            Values::Float(v) => v,
            Values::Int(v) => v.into_iter().map(|x| x as f64).collect(),
        };
        if values.iter().any(|v| !v.is_finite()) {
            return Err(wrong("a weight is not a finite number".into()));
        }
        let (mut lo, mut hi) = bounds(values.iter());
        if values.is_empty() {
            (lo, hi) = (0.0, 0.0);
        }
        if hi - lo <= 1e-12 * lo.abs().max(1.0) {
            let h = (lo.abs() * 0.05).max(1e-6);
            (lo, hi) = (lo - h, hi + h);
        }
        let width = (hi - lo) / BINS as f64;
        let mut bins = vec![0; BINS];
        for v in &values {
            bins[(((v - lo) / width) as usize).min(BINS - 1)] += 1;
        }
        out.push(Histogram {
            name: array,
            count: values.len(),
            lo,
            width,
            bins,
        });
    }
    Ok(Figure::Weights(out))
}

/// The raster of the saved test samples, or `None` if no sample was saved (no test set).
pub(super) fn test_raster(dir: &Path) -> Result<Option<Figure>, PlotError> {
    let m = manifest(dir)?;
    let names = node_names(dir, &m)?;
    let (time, ts) = npy(dir, "test_spikes_time.npy")?;
    let (sample, ss) = npy(dir, "test_spikes_sample.npy")?;
    let (node, ns) = npy(dir, "test_spikes_node.npy")?;
    let (neuron, rs) = npy(dir, "test_spikes_neuron.npy")?;
    if ts.len() != 1 || ss != ts || ns != ts || rs != ts {
        return Err(malformed(
            dir,
            "test_spikes_time.npy",
            "the four `test_spikes_*.npy` arrays must be flat and of the same length",
        ));
    }
    let labels = labels(dir)?;
    let predicted = predictions(dir, labels.len())?;
    let saved = m["details"]["test_spike_samples"]
        .as_u64()
        .map_or_else(|| bounds(sample.iter()).1 + 1.0, |n| n as f64)
        .max(0.0) as usize;
    let saved = saved.min(labels.len());
    if let Some(s) = sample
        .iter()
        .find(|s| s.fract() != 0.0 || **s < 0.0 || **s as usize >= saved)
    {
        return Err(malformed(
            dir,
            "test_spikes_sample.npy",
            format!("sample {s} is not one of the {saved} saved test samples"),
        ));
    }
    if let Some(c) = node
        .iter()
        .find(|c| c.fract() != 0.0 || **c < 0.0 || **c as usize >= names.len())
    {
        return Err(malformed(
            dir,
            "test_spikes_node.npy",
            format!("node code {c} is not in the manifest"),
        ));
    }
    if let Some(i) = neuron.iter().find(|i| i.fract() != 0.0 || **i < 0.0) {
        return Err(malformed(
            dir,
            "test_spikes_neuron.npy",
            format!("{i} is not a neuron index"),
        ));
    }
    if time.iter().any(|t| !t.is_finite()) {
        return Err(malformed(
            dir,
            "test_spikes_time.npy",
            "a spike time is not a finite number",
        ));
    }
    if saved == 0 {
        return Ok(None);
    }
    let sizes = node_rows(&m, &names, &node, &neuron);
    let panels = (0..saved)
        .map(|k| {
            let mut first = 0;
            let nodes = names
                .iter()
                .enumerate()
                .map(|(c, name)| {
                    let spikes = (0..time.len())
                        .filter(|&s| sample[s] as usize == k && node[s] as usize == c)
                        .map(|s| (time[s] * 1e3, (first + neuron[s] as usize) as f64))
                        .collect();
                    first += sizes[c];
                    RasterNode {
                        name: name.clone(),
                        spikes,
                    }
                })
                .collect();
            let guess = predicted[k].map_or("none".to_string(), |c| c.to_string());
            RasterPanel {
                title: format!("#{k}: label {}, pred. {guess}", labels[k]),
                nodes,
            }
        })
        .collect();
    let t_max_ms = m["t_max_s"]
        .as_f64()
        .unwrap_or_else(|| bounds(time.iter()).1.max(1e-3))
        * 1e3;
    Ok(Some(Figure::TestRaster(TestRaster {
        names,
        panels,
        rows: sizes.iter().sum::<usize>().max(1),
        t_max_ms,
    })))
}

/// Legend entries drawn by hand from `at` downwards (or rightwards): a marker and its text.
fn legend<DB: DrawingBackend>(
    area: &Area<DB>,
    entries: &[(String, ShapeStyle)],
    at: (i32, i32),
    step: (i32, i32),
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    for (i, (text, style)) in entries.iter().enumerate() {
        let (x, y) = (at.0 + step.0 * i as i32, at.1 + step.1 * i as i32);
        area.draw(&Circle::new((x, y), 5, *style)).map_err(e)?;
        area.draw(&Text::new(
            text.clone(),
            (x + 12, y - 9),
            ("sans-serif", 16),
        ))
        .map_err(e)?;
    }
    Ok(())
}

pub(super) fn draw_decision_map<DB: DrawingBackend>(
    m: &DecisionMap,
    root: &Area<DB>,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let n = m.points.len();
    let correct = (0..n)
        .filter(|&i| m.predicted[i] == Some(m.labels[i]))
        .count();
    let title = format!(
        "decision map: test accuracy {:.1} % ({correct} of {n})",
        100.0 * correct as f64 / n.max(1) as f64
    );
    let (left, right) = root.split_horizontally(SIZE.1 + 70);
    let mut chart = ChartBuilder::on(&left)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.02..1.02, -0.02..1.02)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("x")
        .y_desc("y")
        .draw()
        .map_err(e)?;
    let classes = m
        .labels
        .iter()
        .chain(m.predicted.iter().flatten())
        .max()
        .map_or(0, |c| c + 1);
    let mut entries = Vec::new();
    for k in 0..classes {
        chart
            .draw_series(
                (0..n)
                    .filter(|&i| m.predicted[i] == Some(k))
                    .map(|i| Circle::new(m.points[i], 3, color(k).filled())),
            )
            .map_err(e)?;
        entries.push((format!("predicted {k}"), color(k).filled()));
    }
    if m.predicted.iter().any(Option::is_none) {
        chart
            .draw_series(
                (0..n)
                    .filter(|&i| m.predicted[i].is_none())
                    .map(|i| Circle::new(m.points[i], 3, GREY.filled())),
            )
            .map_err(e)?;
        entries.push(("no output spike".to_string(), GREY.filled()));
    }
    chart
        .draw_series(
            (0..n)
                .filter(|&i| m.predicted[i] != Some(m.labels[i]))
                .map(|i| Circle::new(m.points[i], 6, BLACK.stroke_width(1))),
        )
        .map_err(e)?;
    entries.push(("misclassified".to_string(), BLACK.stroke_width(1)));
    legend(&right, &entries, (20, 60), (0, 26))
}

pub(super) fn draw_weights<DB: DrawingBackend>(
    hists: &[Histogram],
    root: &Area<DB>,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let body = root
        .titled("final weights (weights_final.npz)", ("sans-serif", 20))
        .map_err(e)?;
    let cols = hists.len().clamp(1, 4);
    let rows = hists.len().div_ceil(cols).max(1);
    let panels = body.split_evenly((rows, cols));
    for (k, (h, panel)) in hists.iter().zip(&panels).enumerate() {
        let top = h.bins.iter().copied().max().unwrap_or(0).max(1) as f64 * 1.05;
        let hi = h.lo + h.width * h.bins.len() as f64;
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("{} ({} weights)", h.name, h.count),
                ("sans-serif", 15),
            )
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(50)
            .build_cartesian_2d(h.lo..hi, 0.0..top)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("weight")
            .y_desc("count")
            .x_labels(4)
            .draw()
            .map_err(e)?;
        chart
            .draw_series(
                h.bins
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .map(|(b, c)| {
                        let x0 = h.lo + h.width * b as f64;
                        Rectangle::new([(x0, 0.0), (x0 + h.width, *c as f64)], color(k).filled())
                    }),
            )
            .map_err(e)?;
    }
    Ok(())
}

pub(super) fn draw_test_raster<DB: DrawingBackend>(
    r: &TestRaster,
    root: &Area<DB>,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let (top, body) = root.split_vertically(56);
    top.draw(&Text::new(
        format!("spikes of the first {} test samples", r.panels.len()),
        (12, 6),
        ("sans-serif", 20),
    ))
    .map_err(e)?;
    let entries: Vec<(String, ShapeStyle)> = r
        .names
        .iter()
        .enumerate()
        .map(|(k, n)| (n.clone(), color(k).filled()))
        .collect();
    legend(&top, &entries, (20, 42), (140, 0))?;
    let panels = body.split_evenly((1, r.panels.len()));
    for (p, (panel, area)) in r.panels.iter().zip(&panels).enumerate() {
        let mut chart = ChartBuilder::on(area)
            .caption(panel.title.as_str(), ("sans-serif", 14))
            .margin(6)
            .x_label_area_size(36)
            .y_label_area_size(if p == 0 { 50 } else { 30 })
            .build_cartesian_2d(0.0..r.t_max_ms, -0.5..r.rows as f64 - 0.5)
            .map_err(e)?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc("time (ms)").x_labels(3).y_labels(5);
        if p == 0 {
            mesh.y_desc("neuron (nodes stacked)");
        }
        mesh.draw().map_err(e)?;
        for (k, node) in panel.nodes.iter().enumerate() {
            chart
                .draw_series(
                    node.spikes
                        .iter()
                        .map(|s| Circle::new(*s, 2, color(k).filled())),
                )
                .map_err(e)?;
        }
    }
    Ok(())
}
