//! Writing results: NumPy `.npy` arrays, CSV and a JSON manifest, each written atomically
//! (to a temporary file in the same folder, then renamed), so an interrupted run never leaves
//! a half-written file that looks complete.
//!
//! Open them in Python with `numpy.load("spikes_time.npy")` or `numpy.loadtxt("metrics.csv",
//! delimiter=",", skiprows=1)`.

use std::io;
use std::path::{Path, PathBuf};

/// The bytes of a little-endian `float64` `.npy` file (format version 1.0).
pub fn npy_f64(data: &[f64], shape: &[usize]) -> Vec<u8> {
    npy(
        b"<f8",
        shape,
        data.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )
}

/// The bytes of a little-endian `int64` `.npy` file.
pub fn npy_i64(data: &[i64], shape: &[usize]) -> Vec<u8> {
    npy(
        b"<i8",
        shape,
        data.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )
}

fn npy(descr: &[u8], shape: &[usize], body: Vec<u8>) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        String::from_utf8_lossy(descr)
    );
    // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64,
    // ending in a newline.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(body);
    out
}

/// Reads a little-endian `float64` `.npy` file written by [`npy_f64`] (C order): values and shape.
pub fn read_npy_f64(bytes: &[u8]) -> Option<(Vec<f64>, Vec<usize>)> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return None;
    }
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(bytes.get(10..10 + hlen)?).ok()?;
    if !header.contains("'<f8'") || header.contains("'fortran_order': True") {
        return None;
    }
    let shape_text = header.split("'shape': (").nth(1)?.split(')').next()?;
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().ok())
        .collect::<Option<_>>()?;
    let body = &bytes[10 + hlen..];
    let n: usize = shape.iter().product();
    if body.len() != n * 8 {
        return None;
    }
    Some((
        body.chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
        shape,
    ))
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// `YYYYmmdd-HHMMSS` in UTC for result folder names.
pub fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// A results folder.
pub struct ResultsDir {
    pub path: PathBuf,
}

impl ResultsDir {
    pub fn create(path: PathBuf) -> io::Result<ResultsDir> {
        std::fs::create_dir_all(&path)?;
        Ok(ResultsDir { path })
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let p = self.path.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        write_atomic(&p, bytes)
    }
}

/// FNV-1a 64 of a text, as a hex string (the program hash in manifests).
pub fn hash_text(text: &str) -> String {
    hash_bytes(text.as_bytes())
}

/// FNV-1a 64 of bytes, as a hex string.
pub fn hash_bytes(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
    });
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_parsable() {
        let bytes = npy_f64(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        assert_eq!(&bytes[..6], b"\x93NUMPY");
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
        assert!(header.contains("'shape': (2, 3)") && header.ends_with('\n'));
        assert_eq!(bytes.len(), 10 + hlen + 48);
        assert_eq!(
            f64::from_le_bytes(bytes[10 + hlen..18 + hlen].try_into().unwrap()),
            1.0
        );
        let (values, shape) = read_npy_f64(&bytes).unwrap();
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }
}
