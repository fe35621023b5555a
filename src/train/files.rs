//! Spike data from files (`input NAME = file(...)`), from bytes already read by the runner.
//!
//! Formats (lang/reference.md §6.4): a `.npz` with `train_times`, `train_labels`, `test_times`,
//! `test_labels` and optionally `validation_times`, `validation_labels` for training; a `.npy`
//! of spike times for a simulation; and CSV for both (`split,sample,channel,time,label` or
//! `channel,time`). An array of times has one row per sample (datasets) and, per channel, either
//! one time or a column of `k` times sorted ascending and padded with `inf` (`inf` = no spike).
//! Times are multiplied by the input's `time_unit` (seconds by default). Every check names the
//! file and the place (array, sample, channel, CSV line); nothing here panics on bad data.

use super::data::{Dataset, Sample};
use crate::npz::{Array, Values, parse_npy, read_npz};

/// What a file input is and where its values must fit.
#[derive(Clone, Debug)]
pub struct FileSpec {
    /// The path as shown in messages (as written in the program).
    pub path: String,
    /// Declared number of channels (`size`).
    pub channels: usize,
    /// Seconds per unit of the times in the file.
    pub time_unit: f64,
    /// Number of output neurons, the exclusive upper bound of labels (training data only).
    pub classes: Option<usize>,
}

/// What is wrong with a spike data file.
#[derive(Clone, Debug, PartialEq)]
pub enum DataError {
    /// The file cannot be read at all.
    Read { path: String, reason: String },
    /// The container cannot be parsed (zip archive, `.npy` header, CSV line).
    Format { path: String, reason: String },
    /// The kind of file does not fit its use (e.g. a `.npy` without labels as training data).
    Kind { path: String, reason: String },
    /// A required array is not in the `.npz`.
    MissingArray { path: String, array: String },
    /// An array snnc does not know (a misspelt name, usually).
    UnknownArray { path: String, array: String },
    /// An array has the wrong shape.
    Shape {
        path: String,
        array: String,
        found: Vec<usize>,
        expected: String,
    },
    /// An array has the wrong element type.
    Dtype {
        path: String,
        array: String,
        found: String,
        expected: &'static str,
    },
    /// A spike time that is NaN, negative or out of order.
    Time {
        path: String,
        place: String,
        value: f64,
        problem: &'static str,
    },
    /// A label outside `0..classes`.
    Label {
        path: String,
        place: String,
        value: i64,
        classes: usize,
    },
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataError::Read { path, reason } => {
                write!(f, "cannot read spike data `{path}`: {reason}")
            }
            DataError::Format { path, reason } | DataError::Kind { path, reason } => {
                write!(f, "spike data `{path}`: {reason}")
            }
            DataError::MissingArray { path, array } => write!(
                f,
                "spike data `{path}`: the array `{array}` is missing (a training `.npz` needs `train_times`, `train_labels`, `test_times` and `test_labels`; `validation_times` and `validation_labels` are optional)"
            ),
            DataError::UnknownArray { path, array } => write!(
                f,
                "spike data `{path}`: unexpected array `{array}` (expected `train_times`, `train_labels`, `validation_times`, `validation_labels`, `test_times`, `test_labels`)"
            ),
            DataError::Shape {
                path,
                array,
                found,
                expected,
            } => write!(
                f,
                "spike data `{path}`: `{array}` has shape {}, expected {expected}",
                shape_text(found)
            ),
            DataError::Dtype {
                path,
                array,
                found,
                expected,
            } => write!(
                f,
                "spike data `{path}`: `{array}` has dtype `{found}`, expected {expected}"
            ),
            DataError::Time {
                path,
                place,
                value,
                problem,
            } => write!(f, "spike data `{path}`: {place}: time {value} {problem}"),
            DataError::Label {
                path,
                place,
                value,
                classes,
            } => write!(
                f,
                "spike data `{path}`: {place}: label {value} is out of range (the output population has {classes} neurons, so labels are 0 to {})",
                classes.saturating_sub(1)
            ),
        }
    }
}

fn shape_text(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    }
}

const SPLITS: [&str; 3] = ["train", "validation", "test"];

fn extension(path: &str) -> String {
    std::path::Path::new(path)
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default()
}

/// A labelled dataset (training data) from a `.npz` or `.csv` file.
pub fn dataset(spec: &FileSpec, bytes: &[u8]) -> Result<Dataset, DataError> {
    match extension(&spec.path).as_str() {
        "npz" => dataset_npz(spec, bytes),
        "csv" => dataset_csv(spec, bytes),
        "npy" => Err(DataError::Kind {
            path: spec.path.clone(),
            reason: "a `.npy` holds spike times without labels, so it cannot be training data; use a `.npz` with `train_times`, `train_labels`, `test_times`, `test_labels` or a CSV with columns `split,sample,channel,time,label`".into(),
        }),
        _ => Err(unknown_extension(spec)),
    }
}

/// The spike trains of an input in a simulation (or a fixed input during training), from a
/// `.npy` or `.csv` file: (time in seconds, channel), sorted by time, then channel.
pub fn spike_trains(spec: &FileSpec, bytes: &[u8]) -> Result<Vec<(f64, u32)>, DataError> {
    match extension(&spec.path).as_str() {
        "npy" => {
            let a = parse_npy(bytes).map_err(|reason| DataError::Format {
                path: spec.path.clone(),
                reason,
            })?;
            let expected = format!("({},) or (k, {})", spec.channels, spec.channels);
            let values = float_values(spec, "times", &a)?;
            let k = match a.shape[..] {
                [c] if c == spec.channels => 1,
                [k, c] if c == spec.channels => k,
                _ => return Err(shape_error(spec, "times", &a, expected)),
            };
            trains(spec, values, k, "")
        }
        "csv" => trains_csv(spec, bytes),
        "npz" => Err(DataError::Kind {
            path: spec.path.clone(),
            reason: "a `.npz` holds a labelled dataset, which only a train section uses (`data NAME`); give a simulation its spikes as a `.npy` of times or a CSV with columns `channel,time`".into(),
        }),
        _ => Err(unknown_extension(spec)),
    }
}

fn unknown_extension(spec: &FileSpec) -> DataError {
    DataError::Kind {
        path: spec.path.clone(),
        reason: "unknown file type; snnc reads `.npz`, `.npy` and `.csv` spike data".into(),
    }
}

fn shape_error(spec: &FileSpec, array: &str, a: &Array, expected: String) -> DataError {
    DataError::Shape {
        path: spec.path.clone(),
        array: array.into(),
        found: a.shape.clone(),
        expected,
    }
}

fn float_values<'v>(spec: &FileSpec, array: &str, a: &'v Array) -> Result<&'v [f64], DataError> {
    match &a.values {
        Values::Float(v) => Ok(v),
        Values::Int(_) => Err(DataError::Dtype {
            path: spec.path.clone(),
            array: array.into(),
            found: a.dtype.clone(),
            expected: "float64 or float32 spike times",
        }),
    }
}

/// The spikes of one block of `k x channels` times (C order, column = channel), checked and
/// scaled. `place` prefixes positions in messages (e.g. "sample 3 of `train_times`, ").
fn trains(
    spec: &FileSpec,
    values: &[f64],
    k: usize,
    place: &str,
) -> Result<Vec<(f64, u32)>, DataError> {
    let c_n = spec.channels;
    let mut out = Vec::new();
    for c in 0..c_n {
        let mut last = f64::NEG_INFINITY;
        for j in 0..k {
            let v = values[j * c_n + c];
            let at = || {
                if k == 1 {
                    format!("{place}channel {c}")
                } else {
                    format!("{place}channel {c}, spike {j}")
                }
            };
            let bad = |problem| DataError::Time {
                path: spec.path.clone(),
                place: at(),
                value: v,
                problem,
            };
            if v.is_nan() {
                return Err(bad("is NaN (write `inf` for no spike)"));
            }
            if v < 0.0 {
                return Err(bad("is negative"));
            }
            if v < last {
                return Err(bad(
                    "is earlier than the one before it (each channel's times must be sorted ascending, padded with `inf` at the end)",
                ));
            }
            last = v;
            if v.is_finite() {
                out.push((v * spec.time_unit, c as u32));
            }
        }
    }
    sort(&mut out);
    Ok(out)
}

fn sort(spikes: &mut [(f64, u32)]) {
    spikes.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
}

fn dataset_npz(spec: &FileSpec, bytes: &[u8]) -> Result<Dataset, DataError> {
    let format = |reason| DataError::Format {
        path: spec.path.clone(),
        reason,
    };
    let mut arrays = Vec::new();
    for (name, data) in read_npz(bytes).map_err(format)? {
        let known = SPLITS
            .iter()
            .any(|s| name == format!("{s}_times") || name == format!("{s}_labels"));
        if !known {
            return Err(DataError::UnknownArray {
                path: spec.path.clone(),
                array: name,
            });
        }
        let a = parse_npy(&data).map_err(|r| format(format!("`{name}`: {r}")))?;
        arrays.push((name, a));
    }
    let mut sets = Vec::new();
    for split in SPLITS {
        let find = |n: &str| arrays.iter().find(|(name, _)| name == n).map(|(_, a)| a);
        let (tn, ln) = (format!("{split}_times"), format!("{split}_labels"));
        let (times, labels) = match (find(&tn), find(&ln)) {
            (Some(t), Some(l)) => (t, l),
            (None, None) if split == "validation" => {
                sets.push(Vec::new());
                continue;
            }
            (None, _) => return Err(missing(spec, tn)),
            (_, None) => return Err(missing(spec, ln)),
        };
        sets.push(split_npz(spec, &tn, times, &ln, labels)?);
    }
    let test = sets.pop().unwrap_or_default();
    let validation = sets.pop().unwrap_or_default();
    let train = sets.pop().unwrap_or_default();
    Ok(Dataset {
        train,
        validation,
        test,
        points: None,
    })
}

fn missing(spec: &FileSpec, array: String) -> DataError {
    DataError::MissingArray {
        path: spec.path.clone(),
        array,
    }
}

fn split_npz(
    spec: &FileSpec,
    tn: &str,
    times: &Array,
    ln: &str,
    labels: &Array,
) -> Result<Vec<Sample>, DataError> {
    let c = spec.channels;
    let expected = format!("(samples, {c}) or (samples, k, {c})");
    let (n, k) = match times.shape[..] {
        [n, ch] if ch == c => (n, 1),
        [n, k, ch] if ch == c => (n, k),
        _ => return Err(shape_error(spec, tn, times, expected)),
    };
    if n == 0 && tn != "validation_times" {
        return Err(shape_error(
            spec,
            tn,
            times,
            "at least one sample".to_string(),
        ));
    }
    let values = float_values(spec, tn, times)?;
    let Values::Int(ls) = &labels.values else {
        return Err(DataError::Dtype {
            path: spec.path.clone(),
            array: ln.into(),
            found: labels.dtype.clone(),
            expected: "int64 or int32 labels",
        });
    };
    if labels.shape != [n] {
        return Err(shape_error(
            spec,
            ln,
            labels,
            format!("({n},), one label per sample of `{tn}`"),
        ));
    }
    (0..n)
        .map(|s| {
            let block = &values[s * k * c..(s + 1) * k * c];
            let spikes = trains(spec, block, k, &format!("sample {s} of `{tn}`, "))?;
            let label = check_label(spec, ls[s], || format!("sample {s} of `{ln}`"))?;
            Ok(Sample { spikes, label })
        })
        .collect()
}

fn check_label(
    spec: &FileSpec,
    value: i64,
    place: impl Fn() -> String,
) -> Result<usize, DataError> {
    let classes = spec.classes.unwrap_or(usize::MAX);
    if value < 0 || value as u64 >= classes as u64 {
        return Err(DataError::Label {
            path: spec.path.clone(),
            place: place(),
            value,
            classes,
        });
    }
    Ok(value as usize)
}

/// The lines of a CSV file with the positions of the required columns (in any order).
struct Csv<'t> {
    rows: Vec<(usize, Vec<&'t str>)>,
    columns: Vec<usize>,
}

fn parse_csv<'t>(spec: &FileSpec, text: &'t str, want: &[&str]) -> Result<Csv<'t>, DataError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .map(|(_, h)| h.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let mut columns = Vec::new();
    for w in want {
        match header.iter().position(|h| h == w) {
            Some(i) => columns.push(i),
            None => {
                return Err(DataError::Format {
                    path: spec.path.clone(),
                    reason: format!(
                        "the header line must name the columns `{}` (found `{}`)",
                        want.join(","),
                        header.join(",")
                    ),
                });
            }
        }
    }
    let rows = lines
        .map(|(n, l)| (n, l.split(',').map(str::trim).collect::<Vec<_>>()))
        .collect::<Vec<_>>();
    if let Some((n, r)) = rows.iter().find(|(_, r)| r.len() != header.len()) {
        return Err(DataError::Format {
            path: spec.path.clone(),
            reason: format!(
                "line {n} has {} fields, the header {}",
                r.len(),
                header.len()
            ),
        });
    }
    Ok(Csv { rows, columns })
}

fn csv_text<'b>(spec: &FileSpec, bytes: &'b [u8]) -> Result<&'b str, DataError> {
    std::str::from_utf8(bytes).map_err(|_| DataError::Format {
        path: spec.path.clone(),
        reason: "a CSV file must be UTF-8 text".into(),
    })
}

/// One field parsed as `T`, or a message naming the line and column.
fn field<T: std::str::FromStr>(
    spec: &FileSpec,
    line: usize,
    name: &str,
    text: &str,
) -> Result<T, DataError> {
    text.parse().map_err(|_| DataError::Format {
        path: spec.path.clone(),
        reason: format!("line {line}: `{text}` is not a valid `{name}`"),
    })
}

/// A (channel, time) pair of a CSV line, checked; `None` for an empty pair (a sample without
/// spikes).
fn csv_spike(
    spec: &FileSpec,
    line: usize,
    channel: &str,
    time: &str,
) -> Result<Option<(f64, u32)>, DataError> {
    if channel.is_empty() && time.is_empty() {
        return Ok(None);
    }
    let c: usize = field(spec, line, "channel", channel)?;
    if c >= spec.channels {
        return Err(DataError::Format {
            path: spec.path.clone(),
            reason: format!(
                "line {line}: channel {c} does not exist (the input has {} channels, 0 to {})",
                spec.channels,
                spec.channels - 1
            ),
        });
    }
    let t: f64 = field(spec, line, "time", time)?;
    let bad = |problem| DataError::Time {
        path: spec.path.clone(),
        place: format!("line {line}"),
        value: t,
        problem,
    };
    if t.is_nan() {
        return Err(bad("is NaN"));
    }
    if t < 0.0 {
        return Err(bad("is negative"));
    }
    if t.is_infinite() {
        return Err(bad(
            "is infinite (leave the sample without rows for no spike)",
        ));
    }
    Ok(Some((t * spec.time_unit, c as u32)))
}

fn trains_csv(spec: &FileSpec, bytes: &[u8]) -> Result<Vec<(f64, u32)>, DataError> {
    let csv = parse_csv(spec, csv_text(spec, bytes)?, &["channel", "time"])?;
    let mut out = Vec::new();
    for (line, r) in &csv.rows {
        let (c, t) = (r[csv.columns[0]], r[csv.columns[1]]);
        out.extend(csv_spike(spec, *line, c, t)?);
    }
    sort(&mut out);
    Ok(out)
}

fn dataset_csv(spec: &FileSpec, bytes: &[u8]) -> Result<Dataset, DataError> {
    let csv = parse_csv(
        spec,
        csv_text(spec, bytes)?,
        &["split", "sample", "channel", "time", "label"],
    )?;
    // Per split: the samples by number, each with its label and the line that set it.
    let mut sets: [Vec<Option<(Sample, usize)>>; 3] = Default::default();
    let format = |line: usize, reason: String| DataError::Format {
        path: spec.path.clone(),
        reason: format!("line {line}: {reason}"),
    };
    for (line, r) in &csv.rows {
        let col = |k: usize| r[csv.columns[k]];
        let split = SPLITS.iter().position(|s| *s == col(0)).ok_or_else(|| {
            format(
                *line,
                format!("unknown split `{}` (use train, validation or test)", col(0)),
            )
        })?;
        let sample: usize = field(spec, *line, "sample", col(1))?;
        if sample >= csv.rows.len() {
            return Err(format(
                *line,
                format!(
                    "sample number {sample} is larger than the number of rows; number the samples of each split 0, 1, 2, ..."
                ),
            ));
        }
        let label: i64 = field(spec, *line, "label", col(4))?;
        let label = check_label(spec, label, || format!("line {line}"))?;
        let spike = csv_spike(spec, *line, col(2), col(3))?;
        let set = &mut sets[split];
        if set.len() <= sample {
            set.resize(sample + 1, None);
        }
        let entry = set[sample].get_or_insert_with(|| {
            (
                Sample {
                    spikes: Vec::new(),
                    label,
                },
                *line,
            )
        });
        if entry.0.label != label {
            return Err(format(
                *line,
                format!(
                    "sample {sample} of split `{}` has label {label} here but {} on line {}",
                    SPLITS[split], entry.0.label, entry.1
                ),
            ));
        }
        entry.0.spikes.extend(spike);
    }
    let mut out = Vec::new();
    for (k, set) in sets.into_iter().enumerate() {
        let samples = set
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                s.map(|(mut s, _)| {
                    sort(&mut s.spikes);
                    s
                })
                .ok_or_else(|| DataError::Format {
                    path: spec.path.clone(),
                    reason: format!(
                        "sample {i} of split `{}` has no line (give a sample without spikes a line with empty `channel` and `time`)",
                        SPLITS[k]
                    ),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(samples);
    }
    for (k, split) in SPLITS.iter().enumerate() {
        if out[k].is_empty() && *split != "validation" {
            return Err(DataError::Format {
                path: spec.path.clone(),
                reason: format!("the split `{split}` has no samples"),
            });
        }
    }
    let test = out.pop().unwrap_or_default();
    let validation = out.pop().unwrap_or_default();
    let train = out.pop().unwrap_or_default();
    Ok(Dataset {
        train,
        validation,
        test,
        points: None,
    })
}
