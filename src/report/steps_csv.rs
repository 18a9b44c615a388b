//! The per-step CSV written by `nodelab solve --steps-csv` and the app's table export.
//!
//! Header: `t,h,err,accepted,nfev,y_0,…,y_{d-1},a0_0,…,a0_{d-1},a1_0,…,a1_{d-1},a2_0,…,a2_{d-1}`.
//! One row per attempted step: `t` is the step's start, `y` the state after it (the rejected
//! candidate for a rejected attempt), `accepted` is 1 or 0, `err` and the `a` columns are empty
//! when the method has none. Numbers use Rust's shortest round-trip formatting.

use std::io::{self, Write};

use crate::solver::StepRecord;

/// The CSV header for a state of dimension `d`.
pub fn header(d: usize) -> String {
    let mut cols: Vec<String> = ["t", "h", "err", "accepted", "nfev"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for prefix in ["y", "a0", "a1", "a2"] {
        cols.extend((0..d).map(|i| format!("{prefix}_{i}")));
    }
    cols.join(",")
}

/// Writes one row.
pub fn write_row(out: &mut impl Write, r: &StepRecord) -> io::Result<()> {
    let d = r.y.len();
    write!(out, "{},{},", r.t, r.h)?;
    if let Some(e) = r.err {
        write!(out, "{e}")?;
    }
    write!(out, ",{},{}", u8::from(r.accepted), r.nfev)?;
    for v in &r.y {
        write!(out, ",{v}")?;
    }
    match r.dense.coefficients() {
        Some(c) => {
            for v in c {
                write!(out, ",{v}")?;
            }
        }
        None => {
            for _ in 0..3 * d {
                write!(out, ",")?;
            }
        }
    }
    writeln!(out)
}

/// Writes the header and every record.
pub fn write(out: &mut impl Write, dim: usize, records: &[StepRecord]) -> io::Result<()> {
    writeln!(out, "{}", header(dim))?;
    for r in records {
        write_row(out, r)?;
    }
    Ok(())
}

/// The whole CSV as a string.
pub fn to_string(dim: usize, records: &[StepRecord]) -> String {
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write(&mut buf, dim, records);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solver::Dense;

    #[test]
    fn header_lists_every_column_in_order() {
        assert_eq!(
            header(2),
            "t,h,err,accepted,nfev,y_0,y_1,a0_0,a0_1,a1_0,a1_1,a2_0,a2_1"
        );
    }

    #[test]
    fn rows_have_as_many_fields_as_the_header() {
        let with = StepRecord {
            t: 0.5,
            h: 0.25,
            err: Some(1e-3),
            err_ratio: Some(0.5),
            accepted: false,
            clipped: false,
            nfev: 9,
            y: vec![1.0, 2.0],
            dense: Dense::Rk4 {
                coeffs: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            },
        };
        let without = StepRecord {
            err: None,
            err_ratio: None,
            dense: Dense::Linear,
            accepted: true,
            ..with.clone()
        };
        let text = to_string(2, &[with, without]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "0.5,0.25,0.001,0,9,1,2,1,2,3,4,5,6");
        assert_eq!(lines[2], "0.5,0.25,,1,9,1,2,,,,,,");
        for l in &lines {
            assert_eq!(l.split(',').count(), 13);
        }
    }
}
