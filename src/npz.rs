//! NumPy containers without IO: parsing `.npy` arrays, reading `.npz` archives (zip files with
//! stored or deflated entries, as written by `numpy.savez` and `numpy.savez_compressed`), and
//! writing `.npz` archives with stored entries.
//!
//! The zip reader is hand-written (about a hundred lines) over `miniz_oxide`'s inflater: `.npz`
//! files use a tiny part of the zip format (no encryption, no multi-disk archives; zip64 size
//! fields, which NumPy always writes for local headers). It does not read other dtypes than the
//! ones snnc's data files need (`float64`, `float32`, `int64`, `int32`, little-endian).

/// The values of an array, converted losslessly to 64 bits.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    Float(Vec<f64>),
    Int(Vec<i64>),
}

/// A parsed `.npy` array in C order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    /// The dtype as written in the header, e.g. `<f8`.
    pub dtype: String,
    pub values: Values,
}

/// Parses a `.npy` file (format versions 1 to 3). Fortran-ordered arrays are reordered to C
/// order. The error says what is wrong, without the file name.
pub fn parse_npy(bytes: &[u8]) -> Result<Array, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a NumPy `.npy` array (the magic bytes are missing)".into());
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported `.npy` format version {v}")),
    };
    let header = bytes
        .get(start..start + hlen)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("the `.npy` header is truncated or not text")?;
    let dtype = header_value(header, "descr")
        .and_then(|d| d.strip_prefix('\''))
        .and_then(|d| d.split('\'').next())
        .map(str::to_string)
        .ok_or("the `.npy` header has no `descr` string")?;
    let fortran = header_value(header, "fortran_order").is_some_and(|v| v.starts_with("True"));
    let shape_text = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split('(').nth(1))
        .and_then(|s| s.split(')').next())
        .ok_or("the `.npy` header has no `shape`")?;
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse()
                .map_err(|_| format!("bad dimension `{t}` in the shape"))
        })
        .collect::<Result<_, _>>()?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, d| a.checked_mul(*d))
        .ok_or("the shape is too large")?;
    let body = &bytes[start + hlen..];
    let width = match dtype.as_str() {
        "<f8" | "<i8" => 8,
        "<f4" | "<i4" => 4,
        other => {
            return Err(format!(
                "unsupported dtype `{other}` (snnc reads little-endian float64, float32, int64 and int32)"
            ));
        }
    };
    let needed = n.checked_mul(width).ok_or("the shape is too large")?;
    if body.len() != needed {
        return Err(format!(
            "the data has {} bytes, but shape {:?} of `{dtype}` needs {needed}",
            body.len(),
            shape,
        ));
    }
    let values = match dtype.as_str() {
        "<f8" => Values::Float(
            body.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        ),
        "<f4" => Values::Float(
            body.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")) as f64)
                .collect(),
        ),
        "<i8" => Values::Int(
            body.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        ),
        _ => Values::Int(
            body.chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")) as i64)
                .collect(),
        ),
    };
    let values = if fortran && shape.len() > 1 {
        to_c_order(values, &shape)
    } else {
        values
    };
    Ok(Array {
        shape,
        dtype,
        values,
    })
}

/// The text after `'key':` in a header dictionary.
fn header_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    Some(header.split(&format!("'{key}':")).nth(1)?.trim_start())
}

/// Reorders Fortran-ordered values (first index fastest) to C order (last index fastest).
fn to_c_order(values: Values, shape: &[usize]) -> Values {
    let n: usize = shape.iter().product();
    let f_index = |mut c: usize| {
        // Decompose the C index, then compose the Fortran offset.
        let (mut off, mut stride) = (0, 1);
        let mut idx = vec![0; shape.len()];
        for (k, d) in shape.iter().enumerate().rev() {
            idx[k] = c % d;
            c /= d;
        }
        for (k, d) in shape.iter().enumerate() {
            off += idx[k] * stride;
            stride *= d;
        }
        off
    };
    match values {
        Values::Float(v) => Values::Float((0..n).map(|c| v[f_index(c)]).collect()),
        Values::Int(v) => Values::Int((0..n).map(|c| v[f_index(c)]).collect()),
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as u64)
}

fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as u64)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

const DAMAGED: &str = "the zip archive is damaged or truncated";

/// The entries of a `.npz` (zip) archive: name (without the `.npy` suffix) and contents, in the
/// order of the central directory.
pub fn read_npz(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    // The end-of-central-directory record: the last one, possibly followed by a comment.
    let eocd = (0..bytes.len().saturating_sub(21))
        .rev()
        .take(65_536 + 22)
        .find(|&i| bytes[i..].starts_with(b"PK\x05\x06"))
        .ok_or("not a zip archive (no end of central directory); `.npz` files are zip archives")?;
    let mut entries = u16_at(bytes, eocd + 10).ok_or(DAMAGED)?;
    let mut cd = u32_at(bytes, eocd + 16).ok_or(DAMAGED)?;
    if entries == 0xFFFF || cd == 0xFFFF_FFFF {
        // zip64: the locator just before the record points at the zip64 record.
        let loc = eocd.checked_sub(20).ok_or(DAMAGED)?;
        if !bytes[loc..].starts_with(b"PK\x06\x07") {
            return Err(DAMAGED.into());
        }
        let rec = u64_at(bytes, loc + 8).ok_or(DAMAGED)? as usize;
        if !bytes
            .get(rec..)
            .is_some_and(|r| r.starts_with(b"PK\x06\x06"))
        {
            return Err(DAMAGED.into());
        }
        entries = u64_at(bytes, rec + 32).ok_or(DAMAGED)?;
        cd = u64_at(bytes, rec + 48).ok_or(DAMAGED)?;
    }
    let mut out = Vec::new();
    let mut at = cd as usize;
    for _ in 0..entries {
        if !bytes
            .get(at..)
            .is_some_and(|r| r.starts_with(b"PK\x01\x02"))
        {
            return Err(DAMAGED.into());
        }
        let flags = u16_at(bytes, at + 8).ok_or(DAMAGED)?;
        let method = u16_at(bytes, at + 10).ok_or(DAMAGED)?;
        let crc = u32_at(bytes, at + 16).ok_or(DAMAGED)? as u32;
        let mut csize = u32_at(bytes, at + 20).ok_or(DAMAGED)?;
        let mut usize_ = u32_at(bytes, at + 24).ok_or(DAMAGED)?;
        let name_len = u16_at(bytes, at + 28).ok_or(DAMAGED)? as usize;
        let extra_len = u16_at(bytes, at + 30).ok_or(DAMAGED)? as usize;
        let comment_len = u16_at(bytes, at + 32).ok_or(DAMAGED)? as usize;
        let mut local = u32_at(bytes, at + 42).ok_or(DAMAGED)?;
        let name = bytes.get(at + 46..at + 46 + name_len).ok_or(DAMAGED)?;
        let name = String::from_utf8_lossy(name).into_owned();
        let extra = bytes
            .get(at + 46 + name_len..at + 46 + name_len + extra_len)
            .ok_or(DAMAGED)?;
        zip64_sizes(extra, &mut usize_, &mut csize, &mut local);
        at += 46 + name_len + extra_len + comment_len;
        if flags & 1 != 0 {
            return Err(format!("entry `{name}` is encrypted"));
        }
        let l = local as usize;
        if !bytes.get(l..).is_some_and(|r| r.starts_with(b"PK\x03\x04")) {
            return Err(DAMAGED.into());
        }
        let data_at = l
            + 30
            + u16_at(bytes, l + 26).ok_or(DAMAGED)? as usize
            + u16_at(bytes, l + 28).ok_or(DAMAGED)? as usize;
        let raw = bytes
            .get(data_at..data_at.saturating_add(csize as usize))
            .ok_or(DAMAGED)?;
        let data = match method {
            0 => raw.to_vec(),
            8 => miniz_oxide::inflate::decompress_to_vec_with_limit(raw, usize_ as usize)
                .map_err(|_| format!("entry `{name}`: the deflated data is damaged"))?,
            m => {
                return Err(format!(
                    "entry `{name}` uses zip compression method {m}; snnc reads stored and deflated entries (`numpy.savez` and `numpy.savez_compressed`)"
                ));
            }
        };
        if data.len() as u64 != usize_ || crc32(&data) != crc {
            return Err(format!(
                "entry `{name}` is damaged (size or checksum mismatch)"
            ));
        }
        out.push((name.strip_suffix(".npy").unwrap_or(&name).to_string(), data));
    }
    Ok(out)
}

/// Replaces 32-bit size fields marked `0xFFFFFFFF` by the values of a zip64 extra field.
fn zip64_sizes(extra: &[u8], usize_: &mut u64, csize: &mut u64, local: &mut u64) {
    let mut at = 0;
    while let (Some(id), Some(len)) = (u16_at(extra, at), u16_at(extra, at + 2)) {
        if id == 1 {
            let mut field = at + 4;
            for v in [usize_, csize, local] {
                if *v == 0xFFFF_FFFF
                    && let Some(x) = u64_at(extra, field)
                {
                    *v = x;
                    field += 8;
                }
            }
            return;
        }
        at += 4 + len as usize;
    }
}

/// The CRC-32 (IEEE) of `data`, as zip and PNG use it.
pub fn crc32(data: &[u8]) -> u32 {
    crc32_update(0, data)
}

/// Continues a CRC-32 over more data.
pub fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A `.npz` archive of `.npy` entries, stored without compression (as `numpy.savez` does).
/// Names get the suffix `.npy`. Fails only if an entry or the archive exceeds 4 GiB.
pub fn write_npz(entries: &[(String, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let too_big = || "an `.npz` entry exceeds 4 GiB".to_string();
    for (name, data) in entries {
        let name = format!("{name}.npy");
        let offset = u32::try_from(out.len()).map_err(|_| too_big())?;
        let size = u32::try_from(data.len()).map_err(|_| too_big())?;
        let crc = crc32(data);
        // Version 2.0, no flags, stored, DOS time/date of 1980-01-01 00:00.
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(&0x21u16.to_le_bytes());
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
        };
        out.extend_from_slice(b"PK\x03\x04");
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(b"PK\x01\x02");
        central.extend_from_slice(&20u16.to_le_bytes());
        common(&mut central);
        central.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = u32::try_from(out.len()).map_err(|_| too_big())?;
    let n = u16::try_from(entries.len()).map_err(|_| "too many `.npz` entries".to_string())?;
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{npy_f64, npy_i64};

    #[test]
    fn crc32_of_the_standard_check_string() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn npz_round_trip_and_fortran_order() {
        let a = npy_f64(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]);
        let b = npy_i64(&[7, 8], &[2]);
        let npz = write_npz(&[("a".into(), a.clone()), ("b".into(), b.clone())]).unwrap();
        let entries = read_npz(&npz).unwrap();
        assert_eq!(entries, vec![("a".into(), a.clone()), ("b".into(), b)]);
        let arr = parse_npy(&a).unwrap();
        assert_eq!(arr.shape, vec![2, 3]);
        // The same matrix stored in Fortran order (column by column).
        let mut f = npy_f64(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0], &[2, 3]);
        let at = f.windows(5).position(|w| w == b"False").unwrap();
        f[at..at + 5].copy_from_slice(b"True ");
        assert_eq!(parse_npy(&f).unwrap().values, arr.values);
    }
}
