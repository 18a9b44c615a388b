//! The hooks of scripted runs (smoke tests, screenshots): close after N frames
//! (`NODELAB_EXIT_AFTER_FRAMES`), save a screenshot before closing (`NODELAB_SCREENSHOT`).

use std::path::Path;
use std::sync::atomic::Ordering;

use super::super::status_bar;
use super::NodelabApp;

impl NodelabApp {
    pub(super) fn scripted_run_hooks(&mut self, ctx: &egui::Context) {
        let Some(n) = self.options.exit_after_frames else {
            return;
        };
        ctx.request_repaint();
        if let Some(path) = self.options.screenshot.clone()
            && !self.screenshot_requested
            && self.frames + 5 >= n
        {
            self.screenshot_requested = true;
            let done = self.screenshot_saved.clone();
            ctx.request_screenshot(move |image| {
                // Encoding and writing happen on their own thread.
                let _ = std::thread::Builder::new()
                    .name("screenshot".into())
                    .spawn(move || {
                        if let Err(e) = save_color_image(&image, &path) {
                            log::error!("{e}");
                        }
                        done.store(true, Ordering::Relaxed);
                    });
            });
        }
        let shot_done =
            self.options.screenshot.is_none() || self.screenshot_saved.load(Ordering::Relaxed);
        if self.frames >= n && (shot_done || self.frames > n + 600) && !self.closing {
            self.closing = true;
            // The frame-time readout of the last frames, for scripted measurements.
            let steps: usize = self.rooms.each().iter().map(|(_, r)| r.points()).sum();
            println!(
                "nodelab: {} frames, {steps} attempted steps, {}",
                self.frames,
                status_bar::frame_text(&self.shared.frame_times)
            );
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }
}

fn save_color_image(image: &egui::ColorImage, path: &Path) -> Result<(), String> {
    let [w, h] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let img = image::RgbaImage::from_raw(w as u32, h as u32, bytes)
        .ok_or_else(|| "screenshot has the wrong size".to_string())?;
    // Encoded in memory and written atomically: a failed save leaves an older file whole.
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| format!("cannot encode the screenshot: {e}"))?;
    crate::output::write_bytes(path, png.get_ref())
        .map_err(|e| format!("cannot save the screenshot to {}: {e}", path.display()))
}
