//! Where a GPU kernel's build time goes: naga's WGSL parse + validation, naga's SPIR-V
//! writer, and the driver's compile, per kernel and model shape.
//!
//! Per kernel it prints the WGSL size, naga parse, naga validate, naga SPIR-V out (all timed
//! directly on the `naga` crate, the same translator wgpu runs), then wgpu's
//! `create_shader_module` (parse + validate inside wgpu) and `create_compute_pipeline`
//! (SPIR-V out + the driver's `vkCreateComputePipelines`); the driver's share is the
//! pipeline time minus naga's SPIR-V time.
//!
//! Run: `cargo run --release --example kernel_build_time -- 2,16,16,2 [trace] [naga-only]
//! [KERNEL,…]` (`trace`: the density field's trace form; `naga-only`: skip the driver).

use std::time::Instant;

use nodelab::gpu::shader::{self, Kernel};
use nodelab::gpu::{GpuContext, Shape};
use nodelab::nn::{Activation, Mlp};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<usize> = args
        .first()
        .map_or("2,16,16,2", String::as_str)
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let density = args.iter().any(|a| a == "trace");
    let naga_only = args.iter().any(|a| a == "naga-only");
    let only: Vec<&str> = args
        .iter()
        .skip(1)
        .filter(|a| *a != "trace" && *a != "naga-only")
        .flat_map(|a| a.split(','))
        .collect();
    let time_input = density;
    let mlp = Mlp::random(&sizes, Activation::Tanh, time_input, 1.0, 1);
    let shape = Shape::of_field(&mlp, density);
    let ctx = match GpuContext::headless() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    println!("adapter: {}", ctx.adapter.summary());
    println!(
        "shape {sizes:?} trace={density}\n{:<16} {:>8} {:>9} {:>9} {:>9} {:>11} {:>11}",
        "kernel", "wgsl_kB", "parse_ms", "valid_ms", "spv_ms", "module_ms", "pipeline_ms"
    );
    for k in Kernel::ALL {
        if (!only.is_empty() && !only.contains(&k.entry_point())) || k.check(&shape).is_err() {
            continue;
        }
        let Ok(src) = shader::source(k, &shape) else {
            continue;
        };
        let t = Instant::now();
        let module = match naga::front::wgsl::parse_str(&src) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{}: {e}", k.entry_point());
                continue;
            }
        };
        let parse = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let info = match naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        {
            Ok(i) => i,
            Err(e) => {
                eprintln!("{}: {e}", k.entry_point());
                continue;
            }
        };
        let valid = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let spv =
            naga::back::spv::write_vec(&module, &info, &naga::back::spv::Options::default(), None);
        let spv_ms = t.elapsed().as_secs_f64() * 1e3;
        if let Err(e) = spv {
            eprintln!("{}: {e}", k.entry_point());
        }
        if naga_only {
            println!(
                "{:<16} {:>8.1} {:>9.1} {:>9.1} {:>9.1}",
                k.entry_point(),
                src.len() as f64 / 1e3,
                parse,
                valid,
                spv_ms
            );
            continue;
        }
        let t = Instant::now();
        let m = ctx
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: None,
                source: wgpu::ShaderSource::Wgsl(src.as_str().into()),
            });
        let module_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let _p = ctx
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: None,
                layout: None,
                module: &m,
                entry_point: Some(k.entry_point()),
                compilation_options: Default::default(),
                cache: None,
            });
        let pipe_ms = t.elapsed().as_secs_f64() * 1e3;
        println!(
            "{:<16} {:>8.1} {:>9.1} {:>9.1} {:>9.1} {:>11.1} {:>11.1}",
            k.entry_point(),
            src.len() as f64 / 1e3,
            parse,
            valid,
            spv_ms,
            module_ms,
            pipe_ms
        );
    }
}
