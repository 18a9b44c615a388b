//! Closing the window while a run trains: the close is cancelled and a prompt asks whether to
//! stop and keep the run, keep training, or quit without keeping it. A scripted run
//! (`NODELAB_EXIT_AFTER`) closes without asking.

use egui::{Context, ViewportCommand};

use super::TrainingAction;

/// The user's answer to the close prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseChoice {
    /// End the run after its current iteration, keep it, then close.
    StopAndKeep,
    /// Forget the close; training goes on.
    KeepTraining,
    /// Close now; the run is not kept.
    QuitWithoutKeeping,
}

/// Where a close of the window stands.
#[derive(Clone, Debug, Default)]
pub struct CloseState {
    /// The prompt is on screen.
    pub asked: bool,
    /// Close once the run has ended (and been kept).
    pub after_stop: bool,
    /// The close is decided: the next close request goes through.
    pub confirmed: bool,
    /// Scripted runs exit without asking.
    pub scripted: bool,
    /// Send the close at the next frame.
    pub send: bool,
}

impl CloseState {
    /// Every frame: cancels a close request while `running` and opens the prompt; closes once
    /// a decided close can go (`settled`: the run has ended and nothing is left to write).
    /// Returns whether the prompt just opened.
    pub fn poll(&mut self, ctx: &Context, running: bool, settled: bool) -> bool {
        let requested = ctx.input(|i| i.viewport().close_requested());
        let mut opened = false;
        if requested && running && !self.confirmed && !self.scripted {
            ctx.send_viewport_cmd(ViewportCommand::CancelClose);
            opened = !self.asked;
            self.asked = true;
        }
        if self.after_stop && settled {
            self.after_stop = false;
            self.send = true;
        }
        if std::mem::take(&mut self.send) {
            self.confirmed = true;
            ctx.send_viewport_cmd(ViewportCommand::Close);
        }
        opened
    }

    /// Carries out the answer (the room stops or drops the run itself; `wait`: quitting
    /// waits for the run to end, its directory to be deleted).
    pub fn choose(&mut self, choice: CloseChoice, wait: bool) {
        self.asked = false;
        match choice {
            CloseChoice::StopAndKeep => self.after_stop = true,
            CloseChoice::KeepTraining => {}
            CloseChoice::QuitWithoutKeeping if wait => self.after_stop = true,
            CloseChoice::QuitWithoutKeeping => self.send = true,
        }
    }

    /// The prompt, when asked: its buttons queue a [`TrainingAction::Close`].
    pub fn ui(&self, ctx: &Context, actions: &mut Vec<TrainingAction>) {
        if !self.asked {
            return;
        }
        let modal = egui::Modal::new(egui::Id::unique("train-close-prompt")).show(ctx, |ui| {
            ui.heading("Training is running");
            ui.label("Closing the window ends the run. What should happen to it?");
            ui.add_space(8.0);
            ui.horizontal(|ui| {
                if ui
                    .button("Stop and keep the run")
                    .on_hover_text("end after the current iteration, keep the run, then close")
                    .clicked()
                {
                    actions.push(TrainingAction::Close(CloseChoice::StopAndKeep));
                }
                if ui.button("Keep training").clicked() {
                    actions.push(TrainingAction::Close(CloseChoice::KeepTraining));
                }
                if ui.button("Quit without keeping").clicked() {
                    actions.push(TrainingAction::Close(CloseChoice::QuitWithoutKeeping));
                }
            });
        });
        if modal.should_close() {
            actions.push(TrainingAction::Close(CloseChoice::KeepTraining));
        }
    }
}
