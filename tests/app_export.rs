//! Export: PNG and SVG files are produced and valid (the PNG decodes, the SVG parses), and the
//! app's step-table CSV is byte-for-byte the CLI's `--steps-csv`.

mod common;

use std::path::PathBuf;
use std::process::Command as Process;

use egui_kittest::Harness;
use nodelab::app::explorer::command::Command;
use nodelab::app::explorer::state::PlotKind;
use nodelab::app::{AppOptions, NodelabApp};
use nodelab::export::{self, Dash, Figure, Format, HLine, Marker, Rgb, Series, SeriesKind};

fn presets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("presets")
}

fn app() -> Harness<'static, NodelabApp> {
    let opts = AppOptions {
        presets_dir: presets(),
        restore: false,
        run_at_start: false,
        show_adapter: false,
        auto_solve_delay: std::time::Duration::ZERO,
        file_dialogs: false,
        ..AppOptions::default()
    };
    Harness::builder()
        .with_size([1280.0, 800.0])
        .with_max_steps(40)
        .wgpu()
        .build_eframe(move |cc| NodelabApp::new(cc, opts))
}

fn settle(h: &mut Harness<'_, NodelabApp>) {
    h.run_steps(2);
    h.state_mut().settle();
    h.run_steps(2);
}

/// Parses an SVG document fully; returns the element names seen and the text contents.
fn svg_parse(text: &str) -> (Vec<String>, Vec<String>) {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut names = Vec::new();
    let mut texts = Vec::new();
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)) => {
                names.push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
            }
            Ok(quick_xml::events::Event::Text(t)) => {
                texts.push(String::from_utf8_lossy(t.as_ref()).trim().to_string());
            }
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("invalid SVG at {}: {e}", reader.buffer_position()),
        }
    }
    (names, texts)
}

fn svg_elements(text: &str) -> Vec<String> {
    svg_parse(text).0
}

fn sample_figure() -> Figure {
    Figure {
        title: "test".into(),
        x_label: "t".into(),
        y_label: "h".into(),
        y_log: true,
        series: vec![
            Series {
                name: "line".into(),
                color: Rgb(0, 114, 178),
                kind: SeriesKind::Line {
                    width: 2,
                    style: Dash::Solid,
                },
                points: (1..50).map(|i| [i as f64, (i as f64).powi(-2)]).collect(),
            },
            Series {
                name: "rejected".into(),
                color: Rgb(220, 50, 47),
                kind: SeriesKind::Markers {
                    shape: Marker::Cross,
                    size: 3,
                },
                points: vec![[10.0, 0.1], [20.0, f64::NAN], [30.0, -1.0]],
            },
        ],
        hlines: vec![HLine {
            y: 1.0,
            name: "accept".into(),
            color: Rgb(120, 120, 120),
        }],
        ..Figure::default()
    }
}

#[test]
fn png_and_svg_files_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let fig = sample_figure();
    let png = dir.path().join("f.png");
    export::write(&fig, &png, Format::Png).unwrap();
    let img = image::open(&png).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), export::DEFAULT_SIZE);
    // Not blank: the blue line is drawn.
    assert!(img.pixels().any(|p| p.0 == [0, 114, 178]));
    let svg = dir.path().join("f.svg");
    export::write(&fig, &svg, Format::Svg).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    let (names, texts) = svg_parse(&text);
    assert_eq!(names.first().map(String::as_str), Some("svg"));
    assert!(
        names.iter().any(|n| n == "polyline" || n == "path"),
        "{names:?}"
    );
    // Axis labels, title and legend are real text.
    for want in ["t", "h", "test", "accept", "line"] {
        assert!(
            texts.iter().any(|t| t == want),
            "no text {want:?} in {texts:?}"
        );
    }
}

#[test]
fn an_empty_figure_is_an_error_not_a_blank_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = export::write(&Figure::default(), &dir.path().join("x.png"), Format::Png);
    assert_eq!(err, Err(export::ExportError::Empty));
}

#[test]
fn the_app_exports_every_time_plot_and_the_csv_matches_the_cli() {
    if !common::has_adapter() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut h = app();
    h.state_mut().view_mut().playback.as_fast_as_possible = true;
    let preset = presets().join("paper-van-der-pol.toml");
    h.state_mut()
        .push_command(Command::LoadPreset(preset.clone()));
    settle(&mut h);
    for plot in [
        PlotKind::Solution,
        PlotKind::StepSize,
        PlotKind::ErrorRatio,
        PlotKind::Coefficients,
        PlotKind::Phase,
    ] {
        for format in [Format::Png, Format::Svg] {
            let path = dir
                .path()
                .join(format!("{}.{}", plot.stem(), format.extension()));
            h.state_mut().push_command(Command::ExportPlot {
                plot,
                format,
                path: Some(path.clone()),
            });
            settle(&mut h);
            assert!(path.is_file(), "{} was not written", path.display());
            match format {
                Format::Png => {
                    image::open(&path).unwrap();
                }
                Format::Svg => {
                    svg_elements(&std::fs::read_to_string(&path).unwrap());
                }
            }
        }
    }
    assert!(
        h.state()
            .toasts()
            .items
            .iter()
            .any(|t| t.text.starts_with("exported to ") && !t.error)
    );
    // CSV: the app's export against the CLI's.
    let app_csv = dir.path().join("app.csv");
    h.state_mut().push_command(Command::ExportCsv {
        run: 0,
        path: Some(app_csv.clone()),
    });
    settle(&mut h);
    let cli_csv = dir.path().join("cli.csv");
    let status = Process::new(env!("CARGO_BIN_EXE_nodelab"))
        .arg("solve")
        .arg(&preset)
        .arg("--steps-csv")
        .arg(&cli_csv)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let a = std::fs::read_to_string(&app_csv).unwrap();
    let b = std::fs::read_to_string(&cli_csv).unwrap();
    assert!(a.lines().count() > 20);
    assert_eq!(a, b);
}
