//! Products of a batch (`rows × k`, row-major) with a layer's weight matrix, for the batched
//! MLP ([`super::batched`]): `general_mat_mul` for wide layers, and loops vectorised along the
//! wide side when one side of the weight matrix is thin (≤ [`THIN`]; the 2-dimensional state of
//! a toy vector field), where matrixmultiply's packed 8×4 tiles are mostly padding (measured
//! 1.4–2× slower on the 2-64-2 network). The loops are compiled a second time for AVX2 and
//! picked at run time.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

use super::real::Real;

/// Widest side handled by the thin loops.
pub const THIN: usize = 4;

/// A `rows × cols` row-major view of the front of `buf`.
#[inline]
pub fn view<T>(buf: &[T], rows: usize, cols: usize) -> ArrayView2<'_, T> {
    ArrayView2::from_shape((rows, cols), &buf[..rows * cols]).expect("buffer sized by ensure")
}

/// A mutable `rows × cols` row-major view of the front of `buf`.
#[inline]
pub fn view_mut<T>(buf: &mut [T], rows: usize, cols: usize) -> ArrayViewMut2<'_, T> {
    ArrayViewMut2::from_shape((rows, cols), &mut buf[..rows * cols])
        .expect("buffer sized by ensure")
}

/// Whether the CPU has AVX2 (the thin products' fast path; x86-64 only).
#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// `o_r += Σ_c a_rc B_c` for every row r (`a`: `rows × k`, `B`: `k × n` row-major, k small);
/// with `bias`, `o_r = bias + Σ_c a_rc B_c` (the row is set, not added to: one pass instead of
/// a copy of the bias into every row first, which costs a `memcpy` call per row).
#[inline(always)]
fn thin_k_body<T: Real>(a: &[T], b: &[T], bias: Option<&[T]>, out: &mut [T], k: usize, n: usize) {
    for (o, ar) in out.chunks_exact_mut(n).zip(a.chunks_exact(k)) {
        let mut first = 0;
        if let Some(bias) = bias {
            match k {
                0 => {
                    for (ov, &bv) in o.iter_mut().zip(bias) {
                        *ov = bv;
                    }
                }
                _ => {
                    let x = ar[0];
                    for ((ov, &bv), &wv) in o.iter_mut().zip(bias).zip(&b[..n]) {
                        *ov = bv + x * wv;
                    }
                    first = 1;
                }
            }
        }
        for c in first..k {
            let x = ar[c];
            for (ov, &bv) in o.iter_mut().zip(&b[c * n..(c + 1) * n]) {
                *ov += x * bv;
            }
        }
    }
}

/// `o_rj += a_r · B_j` for every row r (`a`: `rows × k`, `B`: `N × k` row-major): the N dot
/// products of a row in one pass over it, four lanes of partial sums each. With `bias`,
/// `o_rj = bias_j + a_r · B_j`.
#[inline(always)]
fn thin_n_fixed<T: Real, const N: usize>(
    a: &[T],
    b: &[T],
    bias: Option<&[T]>,
    out: &mut [T],
    k: usize,
) {
    let rows: [&[T]; N] = std::array::from_fn(|j| &b[j * k..(j + 1) * k]);
    let full = k / 4 * 4;
    for (o, ar) in out.chunks_exact_mut(N).zip(a.chunks_exact(k)) {
        let mut acc = [[T::zero(); 4]; N];
        for (ci, a4) in ar[..full].chunks_exact(4).enumerate() {
            for j in 0..N {
                let b4 = &rows[j][ci * 4..ci * 4 + 4];
                for l in 0..4 {
                    acc[j][l] += a4[l] * b4[l];
                }
            }
        }
        for j in 0..N {
            let mut tail = T::zero();
            for (x, y) in ar[full..].iter().zip(&rows[j][full..]) {
                tail += *x * *y;
            }
            let base = match bias {
                Some(bias) => bias[j],
                None => o[j],
            };
            o[j] = base + (((acc[j][0] + acc[j][1]) + (acc[j][2] + acc[j][3])) + tail);
        }
    }
}

/// `o_rj += a_r · B_j` for every row r (`a`: `rows × k`, `B`: `n × k` row-major, n small);
/// with `bias`, `o_rj = bias_j + a_r · B_j`.
#[inline(always)]
fn thin_n_body<T: Real>(a: &[T], b: &[T], bias: Option<&[T]>, out: &mut [T], k: usize, n: usize) {
    match n {
        1 => return thin_n_fixed::<T, 1>(a, b, bias, out, k),
        2 => return thin_n_fixed::<T, 2>(a, b, bias, out, k),
        3 => return thin_n_fixed::<T, 3>(a, b, bias, out, k),
        4 => return thin_n_fixed::<T, 4>(a, b, bias, out, k),
        _ => {}
    }
    for (o, ar) in out.chunks_exact_mut(n).zip(a.chunks_exact(k)) {
        for (j, ov) in o.iter_mut().enumerate() {
            if let Some(bias) = bias {
                *ov = bias[j];
            }
            let bj = &b[j * k..(j + 1) * k];
            let mut acc = [T::zero(); 8];
            let (ca, cb) = (ar.chunks_exact(8), bj.chunks_exact(8));
            let (ra, rb) = (ca.remainder(), cb.remainder());
            for (x, y) in ca.zip(cb) {
                for l in 0..8 {
                    acc[l] += x[l] * y[l];
                }
            }
            let mut tail = T::zero();
            for (x, y) in ra.iter().zip(rb) {
                tail += *x * *y;
            }
            *ov += ((acc[0] + acc[1]) + (acc[2] + acc[3]))
                + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
                + tail;
        }
    }
}

/// `acc_a += Σ_r (s·p_ra) q_r` for a < np (`p`: `rows × np`, np small; `q`: `rows × nq`;
/// `acc`: `np × nq`).
#[inline(always)]
fn outer_body<T: Real>(s: T, p: &[T], q: &[T], acc: &mut [T], np: usize, nq: usize) {
    for (pr, qr) in p.chunks_exact(np).zip(q.chunks_exact(nq)) {
        for a in 0..np {
            let x = s * pr[a];
            for (g, &qv) in acc[a * nq..(a + 1) * nq].iter_mut().zip(qr) {
                *g += x * qv;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn thin_k_avx2<T: Real>(
    a: &[T],
    b: &[T],
    bias: Option<&[T]>,
    out: &mut [T],
    k: usize,
    n: usize,
) {
    thin_k_body(a, b, bias, out, k, n);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn thin_n_avx2<T: Real>(
    a: &[T],
    b: &[T],
    bias: Option<&[T]>,
    out: &mut [T],
    k: usize,
    n: usize,
) {
    thin_n_body(a, b, bias, out, k, n);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn outer_avx2<T: Real>(s: T, p: &[T], q: &[T], acc: &mut [T], np: usize, nq: usize) {
    outer_body(s, p, q, acc, np, nq);
}

fn thin_k<T: Real>(a: &[T], b: &[T], bias: Option<&[T]>, out: &mut [T], k: usize, n: usize) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { thin_k_avx2(a, b, bias, out, k, n) };
        return;
    }
    thin_k_body(a, b, bias, out, k, n);
}

fn thin_n<T: Real>(a: &[T], b: &[T], bias: Option<&[T]>, out: &mut [T], k: usize, n: usize) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { thin_n_avx2(a, b, bias, out, k, n) };
        return;
    }
    thin_n_body(a, b, bias, out, k, n);
}

fn outer<T: Real>(s: T, p: &[T], q: &[T], acc: &mut [T], np: usize, nq: usize) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: the CPU supports AVX2 (checked just above).
        unsafe { outer_avx2(s, p, q, acc, np, nq) };
        return;
    }
    outer_body(s, p, q, acc, np, nq);
}

/// `Wᵀ` (`n_in × n_out`) of `W` (`n_out × n_in`) into `wt`.
fn transpose_into<T: Real>(w: &[T], n_out: usize, n_in: usize, wt: &mut Vec<T>) {
    if wt.len() < n_in * n_out {
        wt.resize(n_in * n_out, T::zero());
    }
    for j in 0..n_out {
        for c in 0..n_in {
            wt[c * n_out + j] = w[j * n_in + c];
        }
    }
}

/// `Z += X Wᵀ` (`X`: `rows × n_in`, `W`: `n_out × n_in` as stored, `Z`: `rows × n_out`).
/// `wt` is scratch (the transpose, ≤ THIN·n_out values).
pub fn add_x_wt<T: Real>(
    x: &[T],
    w: &[T],
    z: &mut [T],
    rows: usize,
    n_in: usize,
    n_out: usize,
    wt: &mut Vec<T>,
) {
    x_wt(x, w, None, z, rows, n_in, n_out, wt);
}

/// `Z = 1 bᵀ + X Wᵀ` (overwritten): a layer's pre-activation with its bias `b` (`n_out`), the
/// bias folded into the thin loops rather than copied into every row first.
#[allow(clippy::too_many_arguments)]
pub fn bias_x_wt<T: Real>(
    x: &[T],
    w: &[T],
    bias: &[T],
    z: &mut [T],
    rows: usize,
    n_in: usize,
    n_out: usize,
    wt: &mut Vec<T>,
) {
    x_wt(x, w, Some(&bias[..n_out]), z, rows, n_in, n_out, wt);
}

#[allow(clippy::too_many_arguments)]
fn x_wt<T: Real>(
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    z: &mut [T],
    rows: usize,
    n_in: usize,
    n_out: usize,
    wt: &mut Vec<T>,
) {
    let (x, w, z) = (
        &x[..rows * n_in],
        &w[..n_out * n_in],
        &mut z[..rows * n_out],
    );
    if n_in <= THIN {
        transpose_into(w, n_out, n_in, wt);
        thin_k(x, &wt[..n_in * n_out], bias, z, n_in, n_out);
    } else if n_out <= THIN {
        thin_n(x, w, bias, z, n_in, n_out);
    } else {
        if let Some(bias) = bias {
            for row in z.chunks_exact_mut(n_out) {
                row.copy_from_slice(bias);
            }
        }
        general_mat_mul(
            T::one(),
            &view(x, rows, n_in),
            &view(w, n_out, n_in).t(),
            T::one(),
            &mut view_mut(z, rows, n_out),
        );
    }
}

/// `D_in = Δ W` (overwritten; `Δ`: `rows × n_out`, `W`: `n_out × n_in`, `D_in`: `rows × n_in`).
pub fn delta_w<T: Real>(
    delta: &[T],
    w: &[T],
    d_in: &mut [T],
    rows: usize,
    n_out: usize,
    n_in: usize,
    wt: &mut Vec<T>,
) {
    let (delta, w, d_in) = (
        &delta[..rows * n_out],
        &w[..n_out * n_in],
        &mut d_in[..rows * n_in],
    );
    if n_out <= THIN {
        d_in.fill(T::zero());
        thin_k(delta, w, None, d_in, n_out, n_in);
    } else if n_in <= THIN {
        transpose_into(w, n_out, n_in, wt);
        d_in.fill(T::zero());
        thin_n(delta, &wt[..n_in * n_out], None, d_in, n_out, n_in);
    } else {
        general_mat_mul(
            T::one(),
            &view(delta, rows, n_out),
            &view(w, n_out, n_in),
            T::zero(),
            &mut view_mut(d_in, rows, n_in),
        );
    }
}

/// `G += s Δᵀ X` (`Δ`: `rows × n_out`, `X`: `rows × n_in`, `G`: `n_out × n_in` as stored).
/// `gt` is scratch (a transposed accumulator, ≤ THIN·n_out values).
#[allow(clippy::too_many_arguments)]
pub fn add_dt_x<T: Real>(
    s: T,
    delta: &[T],
    x: &[T],
    g: &mut [T],
    rows: usize,
    n_out: usize,
    n_in: usize,
    gt: &mut Vec<T>,
) {
    let (delta, x, g) = (
        &delta[..rows * n_out],
        &x[..rows * n_in],
        &mut g[..n_out * n_in],
    );
    if n_out <= THIN {
        outer(s, delta, x, g, n_out, n_in);
    } else if n_in <= THIN {
        if gt.len() < n_in * n_out {
            gt.resize(n_in * n_out, T::zero());
        }
        let acc = &mut gt[..n_in * n_out];
        acc.fill(T::zero());
        outer(s, x, delta, acc, n_in, n_out);
        for j in 0..n_out {
            for c in 0..n_in {
                g[j * n_in + c] += acc[c * n_out + j];
            }
        }
    } else {
        general_mat_mul(
            s,
            &view(delta, rows, n_out).t(),
            &view(x, rows, n_in),
            T::one(),
            &mut view_mut(g, n_out, n_in),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each product on thin and wide shapes equals the triple loop.
    #[test]
    fn thin_and_wide_products_equal_the_definition() {
        for (rows, a, b) in [(9, 2, 13), (9, 13, 2), (9, 7, 11), (1, 3, 3), (5, 1, 64)] {
            let x: Vec<f64> = (0..rows * a).map(|i| (i as f64 * 0.37).sin()).collect();
            let w: Vec<f64> = (0..b * a).map(|i| (i as f64 * 0.91).cos()).collect();
            let dl: Vec<f64> = (0..rows * b).map(|i| (i as f64 * 0.53).sin()).collect();
            let mut scratch = Vec::new();
            // Z = X Wᵀ, n_in = a, n_out = b.
            let mut z = vec![0.5; rows * b];
            add_x_wt(&x, &w, &mut z, rows, a, b, &mut scratch);
            // Z = 1 biasᵀ + X Wᵀ over a buffer holding garbage.
            let bias: Vec<f64> = (0..b).map(|j| 0.1 * j as f64 - 0.3).collect();
            let mut zb = vec![f64::NAN; rows * b];
            bias_x_wt(&x, &w, &bias, &mut zb, rows, a, b, &mut scratch);
            let mut d_in = vec![9.0; rows * a];
            delta_w(&dl, &w, &mut d_in, rows, b, a, &mut scratch);
            let mut g = vec![0.25; b * a];
            add_dt_x(0.5, &dl, &x, &mut g, rows, b, a, &mut scratch);
            for r in 0..rows {
                for j in 0..b {
                    let e: f64 = 0.5 + (0..a).map(|c| x[r * a + c] * w[j * a + c]).sum::<f64>();
                    assert!((z[r * b + j] - e).abs() < 1e-13, "{rows} {a} {b}");
                    let eb = e - 0.5 + bias[j];
                    assert!((zb[r * b + j] - eb).abs() < 1e-13, "bias {rows} {a} {b}");
                }
                for c in 0..a {
                    let e: f64 = (0..b).map(|j| dl[r * b + j] * w[j * a + c]).sum();
                    assert!((d_in[r * a + c] - e).abs() < 1e-13);
                }
            }
            for j in 0..b {
                for c in 0..a {
                    let e: f64 =
                        0.25 + 0.5 * (0..rows).map(|r| dl[r * b + j] * x[r * a + c]).sum::<f64>();
                    assert!((g[j * a + c] - e).abs() < 1e-13);
                }
            }
        }
    }
}
