//! The affine layer `z = W x + b` of one sample and its reverse pass, for the per-sample
//! [`super::Mlp`] routines (the batched ones use [`super::thin`]).

/// `Σ a_i b_i` with four partial sums (so that it vectorises).
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..4 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `out[r] = bias[r] + Σ_c W[r][c] x[c]`, W row-major `[out][in]`. Narrow inputs (the first
/// layer of a low-dimensional vector field) get an unrolled loop over the rows that vectorises.
#[inline]
pub(super) fn affine_into(weight: &[f64], bias: &[f64], x: &[f64], out: &mut [f64]) {
    #[inline(always)]
    fn narrow<const N: usize>(weight: &[f64], bias: &[f64], x: &[f64], out: &mut [f64]) {
        let xv: [f64; N] = std::array::from_fn(|c| x[c]);
        for ((o, w), b) in out.iter_mut().zip(weight.chunks_exact(N)).zip(bias) {
            let mut z = *b;
            for c in 0..N {
                z += w[c] * xv[c];
            }
            *o = z;
        }
    }
    match x.len() {
        1 => narrow::<1>(weight, bias, x, out),
        2 => narrow::<2>(weight, bias, x, out),
        3 => narrow::<3>(weight, bias, x, out),
        4 => narrow::<4>(weight, bias, x, out),
        n => {
            for (r, o) in out.iter_mut().enumerate() {
                *o = bias[r] + dot(&weight[r * n..(r + 1) * n], x);
            }
        }
    }
}

/// Reverse pass through `z = W x + b`: `gW += scale·δ xᵀ`, `gb += scale·δ`, `δ_in = Wᵀ δ`.
#[inline]
pub(super) fn affine_backward(
    weight: &[f64],
    x: &[f64],
    delta: &[f64],
    scale: f64,
    gw: &mut [f64],
    gb: &mut [f64],
    delta_in: &mut [f64],
) {
    #[inline(always)]
    fn narrow<const N: usize>(
        weight: &[f64],
        x: &[f64],
        delta: &[f64],
        scale: f64,
        gw: &mut [f64],
        gb: &mut [f64],
        delta_in: &mut [f64],
    ) {
        let xv: [f64; N] = std::array::from_fn(|c| x[c]);
        let mut acc = [0.0f64; N];
        for (((w, g), b), &dr) in weight
            .chunks_exact(N)
            .zip(gw.chunks_exact_mut(N))
            .zip(gb.iter_mut())
            .zip(delta)
        {
            let ds = scale * dr;
            *b += ds;
            for c in 0..N {
                g[c] += ds * xv[c];
                acc[c] += w[c] * dr;
            }
        }
        delta_in[..N].copy_from_slice(&acc);
    }
    let n_in = x.len();
    match n_in {
        1 => narrow::<1>(weight, x, delta, scale, gw, gb, delta_in),
        2 => narrow::<2>(weight, x, delta, scale, gw, gb, delta_in),
        3 => narrow::<3>(weight, x, delta, scale, gw, gb, delta_in),
        4 => narrow::<4>(weight, x, delta, scale, gw, gb, delta_in),
        _ => {
            for (r, &dr0) in delta.iter().enumerate() {
                let dr = scale * dr0;
                gb[r] += dr;
                for (g, xi) in gw[r * n_in..(r + 1) * n_in].iter_mut().zip(x) {
                    *g += dr * xi;
                }
            }
            let dn = &mut delta_in[..n_in];
            dn.fill(0.0);
            for (r, &dr) in delta.iter().enumerate() {
                for (o, wi) in dn.iter_mut().zip(&weight[r * n_in..(r + 1) * n_in]) {
                    *o += wi * dr;
                }
            }
        }
    }
}
