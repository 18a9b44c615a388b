//! GPU compute on wgpu: WGSL kernels for batched neural-ODE solves and gradients (f32), each
//! checked against the CPU f64 reference.
