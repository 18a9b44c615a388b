//! The activations of shaders/common.wgsl (`act_apply`, `act_deriv`) against nn's
//! (`Activation::apply`, `Activation::derivative`, the formulas the CPU networks use): every
//! activation, evaluated on the device over z ∈ [−20, 20] (and at 0 and ±1e-4), equals the Rust
//! function to f32 precision. The WGSL functions are taken from the shipped common.wgsl with
//! the codes block that `nodelab::gpu::codes` generates, so a formula edited on one side only
//! fails here. Skip policy of tests/common (CI=true: no adapter fails).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use nodelab::gpu::GpuContext;
use nodelab::gpu::codes;
use nodelab::gpu::readback;
use nodelab::nn::Activation;

/// The activation functions of the shipped common.wgsl: from `fn act_apply` to the comment
/// that opens the MLP functions.
fn shipped_activation_functions() -> String {
    let common = std::fs::read_to_string(common::root().join("shaders/common.wgsl")).unwrap();
    let start = common
        .find("fn act_apply(")
        .expect("common.wgsl defines act_apply");
    let end = common[start..]
        .find("// The three MLP functions")
        .map(|i| start + i)
        .expect("common.wgsl: the MLP functions follow the activations");
    let functions = &common[start..end];
    assert!(functions.contains("fn act_deriv("), "{functions}");
    functions.to_string()
}

/// A kernel writing `σ(z)` and `σ'(z, σ(z))` of `activation` for every input z.
fn kernel_source(activation: Activation) -> String {
    format!(
        "{codes}const ACTIVATION: u32 = {code}u;\n\n{functions}\n\
         @group(0) @binding(0) var<storage, read> zs: array<f32>;\n\
         @group(0) @binding(1) var<storage, read_write> out: array<f32>;\n\n\
         @compute @workgroup_size(64)\n\
         fn main(@builtin(global_invocation_id) id: vec3<u32>) {{\n\
         \x20   let i = id.x;\n\
         \x20   if i >= arrayLength(&zs) {{\n\
         \x20       return;\n\
         \x20   }}\n\
         \x20   let s = act_apply(zs[i]);\n\
         \x20   out[2u * i] = s;\n\
         \x20   out[2u * i + 1u] = act_deriv(zs[i], s);\n\
         }}\n",
        codes = codes::wgsl_block(),
        code = codes::activation(activation),
        functions = shipped_activation_functions(),
    )
}

/// Runs the kernel of `activation` on `zs`: `(σ, σ')` per input.
fn evaluate_on_device(ctx: &GpuContext, activation: Activation, zs: &[f32]) -> Vec<(f32, f32)> {
    use wgpu::util::DeviceExt;
    let device = &ctx.device;
    let out_bytes = 8 * zs.len() as u64;
    let out = ctx
        .checked(|| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("activations"),
                source: wgpu::ShaderSource::Wgsl(kernel_source(activation).into()),
            });
            let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("activations"),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
            let input = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("zs"),
                contents: bytemuck::cast_slice(zs),
                usage: wgpu::BufferUsages::STORAGE,
            });
            let out = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("out"),
                size: out_bytes,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("activations"),
                layout: &pipeline.get_bind_group_layout(0),
                entries: &[
                    wgpu::BindGroupEntry {
                        binding: 0,
                        resource: input.as_entire_binding(),
                    },
                    wgpu::BindGroupEntry {
                        binding: 1,
                        resource: out.as_entire_binding(),
                    },
                ],
            });
            let mut encoder =
                device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: None,
                    timestamp_writes: None,
                });
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &group, &[]);
                pass.dispatch_workgroups((zs.len() as u32).div_ceil(64), 1, 1);
            }
            ctx.queue.submit([encoder.finish()]);
            out
        })
        .unwrap();
    let bytes = readback::read_buffer(ctx, &out, out_bytes).unwrap();
    bytemuck::pod_collect_to_vec::<u8, f32>(&bytes)
        .chunks(2)
        .map(|p| (p[0], p[1]))
        .collect()
}

#[test]
fn every_wgsl_activation_equals_the_rust_one() {
    let Some(ctx) = common::gpu_context() else {
        return;
    };
    // 0.05 apart over [−20, 20] (never exactly 0 there), plus 0 and ±1e-4.
    let mut zs: Vec<f32> = (-400..=400).map(|k| k as f32 * 0.05 + 0.0125).collect();
    zs.extend([0.0, 1e-4, -1e-4]);
    for activation in Activation::ALL {
        let got = evaluate_on_device(&ctx, activation, &zs);
        assert_eq!(got.len(), zs.len());
        let mut worst = (0.0f64, 0.0f32);
        for (&z, &(s, ds)) in zs.iter().zip(&got) {
            let x = f64::from(z);
            let s_ref = activation.apply(x);
            let ds_ref = activation.derivative(x, s_ref);
            for (what, g, r) in [("σ", s, s_ref), ("σ'", ds, ds_ref)] {
                // f32 rounding of the input, the exp/log of the device and the result.
                let tol = 1e-6 + 4e-6 * r.abs();
                let err = (f64::from(g) - r).abs();
                assert!(
                    err <= tol,
                    "{} {what}({z}): WGSL {g}, Rust {r} (error {err:.2e} > {tol:.2e})",
                    activation.name()
                );
                if err > worst.0 {
                    worst = (err, z);
                }
            }
        }
        eprintln!(
            "{}: largest |WGSL − Rust| {:.2e} at z = {}",
            activation.name(),
            worst.0,
            worst.1
        );
    }
}
