//! Numbers formatted for the text tables of the CLI and the app.

/// A float, compactly: plain decimals (at most 6, trailing zeros dropped) on [1e-3, 1e5),
/// scientific with 3 decimals elsewhere, `0` for zero.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if (1e-3..1e5).contains(&v.abs()) {
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.3e}")
    }
}

/// Bytes in B, KiB or MiB for tables.
pub fn bytes(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// An error or difference in scientific notation with 2 decimals; `-` for NaN (not measured).
pub fn sci(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.2e}")
    }
}
