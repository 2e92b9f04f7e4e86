//! Video out: text → video by rectified flow, Euler steps from noise (t = 1) to data (t = 0) with
//! classifier-free guidance, each step's clean-sample estimate the live preview; continuation by
//! the slot head, which moves the context's digits.

use crate::data::{parse_caption, Clip, Tokenizer};
use crate::model::slots::ops::SIDE;
use crate::model::{frames_to_clip, gaussian, read, ModelError, Result, Task, UniVid};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;

/// What a generation tells its caller after every Euler step, and how the caller's host gets a
/// turn between steps. Any `FnMut(Progress) -> ControlFlow<()>` is one (natively nothing needs a
/// turn); the browser binding (`crate::web`) also yields to the worker's event loop.
pub trait StepHandler {
    /// `Continue` goes on, `Break` stops the call, which then fails with [`ModelError::Cancelled`]
    /// (how a browser aborts a generation promptly).
    fn step(&mut self, progress: Progress<'_>) -> ControlFlow<()>;

    /// Awaited before every [`step`](Self::step) report: the host's turn.
    fn pause(&self) -> Pin<Box<dyn Future<Output = ()> + '_>> {
        Box::pin(std::future::ready(()))
    }
}

impl<F: FnMut(Progress<'_>) -> ControlFlow<()>> StepHandler for F {
    fn step(&mut self, progress: Progress<'_>) -> ControlFlow<()> {
        self(progress)
    }
}

/// Called after every Euler step (see [`StepHandler`]).
pub type OnStep<'a> = &'a mut dyn StepHandler;
/// Where a generation stands after an Euler step.
pub struct Progress<'a> {
    /// Steps done (1-based) and in all.
    pub step: usize,
    pub steps: usize,
    /// The step's clean-sample estimate of the whole clip, made on request: a live preview that
    /// sharpens step by step at no extra forward pass.
    pub estimate: &'a dyn Fn() -> Clip,
}

/// An [`OnStep`] that never stops and reports nothing.
pub fn no_progress(_: Progress<'_>) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// Classifier-free guidance above this only saturates pixels.
pub const MAX_GUIDANCE: f32 = 20.0;

/// At most this many Euler steps: more buys nothing measurable and only burns the visitor's CPU.
pub const MAX_STEPS: usize = 200;

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct GenerateOptions {
    pub steps: usize,
    /// Classifier-free guidance scale; 1 = conditional prediction only.
    pub guidance: f32,
    pub seed: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self { steps: 20, guidance: 2.0, seed: 0 }
    }
}

impl UniVid {
    /// Text → video by rectified flow: Euler steps from noise (t = 1) to data (t = 0).
    pub async fn generate(&self, prompt: &str, options: GenerateOptions, on_step: OnStep<'_>) -> Result<Clip> {
        check_steps(options.steps)?;
        if !(0.0..=MAX_GUIDANCE).contains(&options.guidance) {
            return Err(ModelError::Input(format!("guidance must be in 0..={MAX_GUIDANCE}, got {}", options.guidance)));
        }
        self.check_can_generate()?;
        let words = Tokenizer.encode(prompt)?;
        if parse_caption(&prompt.to_lowercase())?.is_empty() {
            // "no digits": the world's empty clip, nothing to sample.
            let c = &self.config;
            return Ok(Clip::blank(c.frames, c.size, c.size, c.channels));
        }
        if self.text_slot_head().is_some() {
            return self.generate_by_slots(&words, options, on_step).await;
        }
        let c = &self.config;
        let mut x = gaussian(options.seed, c.frames * c.frame_values());
        for step in 0..options.steps {
            let (t, t_next) = flow_times(step, options.steps);
            let mut estimate = read(self.video_estimate(Task::Generate, &words, &x, t, None)?).await?;
            // Guidance mixes velocities; the velocity is affine in the predicted sample, so mixing
            // the samples is the same.
            if options.guidance != 1.0 {
                let unconditional = read(self.video_estimate(Task::Generate, &[], &x, t, None)?).await?;
                for (conditional, u) in estimate.iter_mut().zip(unconditional) {
                    *conditional = u + options.guidance * (*conditional - u);
                }
            }
            euler(&mut x, &estimate, t, t_next);
            report(on_step, step, options.steps, || frames_to_clip(&estimate, c)).await?;
        }
        Ok(frames_to_clip(&x, c))
    }

    /// Text → video by slots (`model::slots::text`): each digit clause's glyph sampled with guided
    /// Euler steps (the preview after each step draws the current glyph estimates along the paths),
    /// its first corner drawn from the seed and moved along the head's path.
    async fn generate_by_slots(&self, words: &[u16], options: GenerateOptions, on_step: OnStep<'_>) -> Result<Clip> {
        let head = self.text_slot_head().expect("checked by the caller");
        let c = &self.config;
        let slots = self.prompt_slots(words).await?;
        let k = slots.present.len();
        let mut x = gaussian(options.seed, k * SIDE * SIDE);
        // The first corners, uniform over the frame as the world's (another stream of the same seed).
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(options.seed ^ 0x5107_5EED);
        let room = (c.size - SIDE) as f32;
        let starts: Vec<[f32; 2]> = (0..k).map(|_| [rng.random::<f32>() * room, rng.random::<f32>() * room]).collect();
        let paths = head.paths(&starts, &slots).await?;
        let frames = |glyphs: &[f32]| unit_clip(&head.render(glyphs, &paths, &slots), c.frames, c.size);
        for step in 0..options.steps {
            let (t, t_next) = flow_times(step, options.steps);
            let estimate = head.glyph_step(&mut x, t, t_next, &slots, options.guidance).await?;
            report(on_step, step, options.steps, || frames(&estimate)).await?;
        }
        Ok(frames(&x))
    }

    fn check_can_generate(&self) -> Result<()> {
        match self.can_generate() {
            true => Ok(()),
            false => Err(ModelError::NotLoaded { group: "generate" }),
        }
    }

    /// Keeps the first `frames_in` frames and continues the clip to the model's length with the
    /// slot head (`model::slots`): each digit of the context is found, aligned to whole pixels and
    /// moved along its predicted path. With one step the result is the expected frames (the
    /// MSE-optimal estimate: where the dynamics is unsure by a pixel or two, the digit is spread
    /// over its likely places); with more, one sharp future drawn from the same distribution
    /// (seeded by `options.seed`). `frames_in` must be half the clip: the dynamics reads as many
    /// corners as it predicts. `guidance` does not apply. The one progress report carries the
    /// expected frames.
    pub async fn continue_clip(&self, clip: &Clip, frames_in: usize, options: GenerateOptions, on_step: OnStep<'_>) -> Result<Clip> {
        check_steps(options.steps)?;
        self.can_continue()?;
        let c = &self.config;
        if frames_in != c.frames / 2 {
            return Err(ModelError::Input(format!(
                "frames_in must be {} (the model continues the second half of a {}-frame clip from its first half), got {frames_in}",
                c.frames / 2, c.frames
            )));
        }
        let context = self.model_input(clip, frames_in)?.slice(0, frames_in)?;
        let future = self.slot_future(&context, c.frames - frames_in).await?;
        let expected = future.expected();
        let whole = |values: &[f32]| {
            let future = unit_clip(values, c.frames - frames_in, c.size);
            Clip::new(c.frames, c.size, c.size, [&context.pixels[..], &future.pixels[..]].concat()).expect("the context and its future fill the clip")
        };
        report(on_step, 0, 1, || whole(&expected)).await?;
        Ok(match options.steps {
            1 => whole(&expected),
            _ => whole(&future.draw(options.seed)),
        })
    }
}

/// Frames of values in [0, 1] (`[F·S·S]`, one channel) → a clip.
fn unit_clip(values: &[f32], frames: usize, size: usize) -> Clip {
    let mut clip = Clip::blank(frames, size, size, 1);
    for (pixel, v) in clip.pixels.iter_mut().zip(values) {
        *pixel = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    }
    clip
}

/// After every Euler step: let the host run (in a browser worker this is what lets an abort message
/// arrive mid-generation), then hand the handler the step's clean-sample estimate (made only if it
/// asks) and ask it whether to go on.
async fn report(on_step: OnStep<'_>, step: usize, steps: usize, estimate: impl Fn() -> Clip) -> Result<()> {
    on_step.pause().await;
    match on_step.step(Progress { step: step + 1, steps, estimate: &estimate }) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(ModelError::Cancelled { step: step + 1, steps }),
    }
}

fn check_steps(steps: usize) -> Result<()> {
    if steps == 0 || steps > MAX_STEPS {
        return Err(ModelError::Input(format!("steps must be 1..={MAX_STEPS}, got {steps}")));
    }
    Ok(())
}

/// Times of Euler step `i` of `n`: from t = 1 (noise) towards 0 (data), uniformly.
fn flow_times(i: usize, n: usize) -> (f32, f32) {
    (1.0 - i as f32 / n as f32, 1.0 - (i + 1) as f32 / n as f32)
}

/// Below this flow time a sample prediction's velocity stops growing (the twin trains with the same
/// bound, `MIN_FLOW_TIME` in scripts/trainer/tasks.py).
pub const MIN_FLOW_TIME: f32 = 0.05;

/// One Euler step from flow time `t` to `t_next` of the velocity (x_t − x₀) / t that the predicted
/// clean sample x₀ implies. The step to t = 0 lands on x₀ itself: what the velocity would reach from
/// t ≥ `MIN_FLOW_TIME` in exact arithmetic (and makes the last preview the result, pixel for
/// pixel); below that bound the clamped velocity would stop short of it.
fn euler(x: &mut [f32], estimate: &[f32], t: f32, t_next: f32) {
    if t_next <= 0.0 {
        x.copy_from_slice(estimate);
        return;
    }
    let scale = (t_next - t) / t.max(MIN_FLOW_TIME);
    for (xi, x0) in x.iter_mut().zip(estimate) {
        *xi += scale * (*xi - x0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_euler_step_to_zero_lands_on_the_predicted_sample_and_stays_finite_near_it() {
        let (mut x, predicted) = (vec![1.0, -0.5, 0.25, 0.0], vec![-1.0, -1.0, 0.5, 0.5]);
        euler(&mut x, &predicted, 0.5, 0.0);
        for (landed, p) in x.iter().zip(&predicted) {
            assert!((landed - p).abs() < 1e-6, "{landed} vs {p}");
        }
        // Near the data the velocity is bounded by MIN_FLOW_TIME.
        let mut x = vec![5.0];
        euler(&mut x, &[0.3], 0.01, 0.005);
        assert!((x[0] - (5.0 - 0.005 * 4.7 / MIN_FLOW_TIME)).abs() < 1e-5, "{}", x[0]);
    }
}
