//! What the CLI and the browser call: classify, describe, ask, generate, continue.
//!
//! Every read-back goes through `into_data_async`, so the same code runs on WebGPU in a browser
//! (where synchronous reads are impossible) and natively (driven by a blocking executor).

use super::config::Task;
use super::error::{ModelError, Result};
use super::sequence::{self, Layout};
use super::univid::{Cache, UniVid};
use super::video::{clip_to_frames, frames_to_clip, gaussian, patchify};
use std::borrow::Cow;
use crate::data::{answer_from_caption, parse_caption, parse_question, Clip, Cue, Grammar, Motion, Tokenizer, END_OF_SENTENCE, EOS_TOKEN};
use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::Tensor;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;

/// Called after every Euler step: `Continue` goes on, `Break` stops the call, which then fails
/// with [`ModelError::Cancelled`] (how a browser aborts a generation promptly).
pub type OnStep<'a> = &'a mut dyn FnMut(Progress<'_>) -> ControlFlow<()>;

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

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DigitGuess {
    pub digit: u8,
    pub probability: f32,
    pub motion: Motion,
    pub motion_probability: f32,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Classification {
    /// Digits judged present, ascending: the `k` most likely, `k` = the expected number of digits
    /// (sum of the presence probabilities) rounded, at least 1 (see `present_digits`).
    pub digits: Vec<DigitGuess>,
    /// Presence probability of each digit 0–9.
    pub digit_probabilities: Vec<f32>,
}

/// How text is decoded: greedy (temperature 0) or sampled with a seed; always within the
/// language's grammar (a caption that parses, an answer its question can have).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct DecodeOptions {
    pub temperature: f32,
    pub seed: u64,
    /// Re-run the whole sequence for every word instead of using the key/value cache
    /// (kept to measure which is faster; both give the same words).
    pub reencode: bool,
    pub answers: AnswerSource,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self { temperature: 0.0, seed: 0, reencode: false, answers: AnswerSource::default() }
    }
}

/// Where [`UniVid::ask`] takes an answer from.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum AnswerSource {
    /// From the caption the model just wrote, by the grammar, wherever a caption holds the answer
    /// (which digits, how many, which way, which digit moves, is there); the model answers the rest
    /// (where a digit starts or ends). Measured on the test split (model card): the model's own
    /// lookup in its caption is right less often than the caption itself.
    #[default]
    Caption,
    /// Every answer decoded by the model, with its caption in view.
    Model,
}

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

/// Reads a tensor back to the host, asynchronously (the only way that works on WebGPU).
pub(crate) async fn read<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    let data = tensor.into_data_async().await.map_err(|e| ModelError::Backend(format!("{e:?}")))?;
    data.try_into_vec::<f32>().map_err(|e| ModelError::Backend(format!("{e:?}")))
}

impl UniVid {
    /// The clip as the model reads it: it must already have the model's geometry (see
    /// `Clip::resized`); colours are converted to the model's channels (RGB → luminance for
    /// grayscale models, gray → R = G = B for RGB ones).
    fn model_input<'a>(&self, clip: &'a Clip, min_frames: usize) -> Result<Cow<'a, Clip>> {
        let c = &self.config;
        if clip.height != c.size || clip.width != c.size || clip.frames < min_frames || clip.frames > c.frames {
            return Err(ModelError::Input(format!(
                "the model reads {}×{} clips of {min_frames}..={} frames, got {} frames of {}×{}; resample it first (Clip::resized)",
                c.size, c.size, c.frames, clip.frames, clip.height, clip.width
            )));
        }
        Ok(clip.as_channels(c.channels)?)
    }

    /// Runs `[video | task + text]`, or `[video | describe + caption | task + text]` given the
    /// clip's caption, and returns the hidden states of the last segment.
    fn understand_prefix(&self, clip: &Clip, caption: Option<&[u16]>, task: Task, text: &[u16]) -> (Tensor<3>, Cache) {
        let n = self.config.video_tokens();
        let mut parts = vec![self.embed_video(&patchify(clip, &self.config), &vec![0.0; n])];
        if let Some(caption) = caption {
            parts.push(self.embed_text(Some(Task::Describe), caption, 0));
        }
        parts.push(self.embed_text(Some(task), text, 0));
        let layout = self.text_layout(caption, task, text.len());
        let (h, cache) = self.trunk(Tensor::cat(parts, 1), &layout, None);
        (h.narrow(1, layout.len() - (1 + text.len()), 1 + text.len()), cache)
    }

    fn text_layout(&self, caption: Option<&[u16]>, task: Task, text: usize) -> Layout {
        let n = self.config.video_tokens();
        match caption {
            Some(caption) => sequence::understand_after_caption(n, caption.len(), task, text),
            None => sequence::understand(n, task, text),
        }
    }

    pub async fn classify(&self, clip: &Clip) -> Result<Classification> {
        let clip = self.model_input(clip, self.config.frames)?;
        let (h, _) = self.understand_prefix(&clip, None, Task::Classify, &[]);
        let (digits, motions) = self.class_logits(h.squeeze_dim::<2>(1));
        let presence = read(sigmoid(digits)).await?;
        let motion = read(softmax(motions.reshape([10, 8]), 1)).await?;
        Ok(classification(presence, &motion))
    }

    pub async fn describe(&self, clip: &Clip, options: DecodeOptions) -> Result<String> {
        let clip = self.model_input(clip, self.config.frames)?;
        let words = self.decode(&clip, None, Task::Describe, &[], Grammar::Caption, options).await?;
        Ok(Tokenizer.decode(&words))
    }

    /// Describes the clip, then answers with that caption in view (the model was trained to read
    /// it: "which digit moves left ?" is a lookup in the words it just wrote).
    pub async fn ask(&self, clip: &Clip, question: &str, options: DecodeOptions) -> Result<String> {
        let (_, mut answers) = self.describe_and_ask(clip, &[question], options).await?;
        Ok(answers.remove(0))
    }

    /// Describes the clip once and answers every question with that caption in view: the same
    /// caption and answers as [`describe`](Self::describe) and [`ask`](Self::ask) one by one.
    pub async fn describe_and_ask(&self, clip: &Clip, questions: &[&str], options: DecodeOptions) -> Result<(String, Vec<String>)> {
        let clip = self.model_input(clip, self.config.frames)?;
        let questions = questions
            .iter()
            .map(|q| Ok((question_tokens(q, self.config.text_len)?, parse_question(q)?)))
            .collect::<Result<Vec<_>>>()?;
        let mut caption = self.decode(&clip, None, Task::Describe, &[], Grammar::Caption, options).await?;
        let said = Tokenizer.decode(&caption);
        let pairs = parse_caption(&said).ok(); // always parses: the decode kept to the grammar
        caption.push(EOS_TOKEN); // as in training, where the caption segment ends with <eos>
        let mut answers = Vec::with_capacity(questions.len());
        for (words, question) in &questions {
            let from_caption = match (options.answers, &pairs) {
                (AnswerSource::Caption, Some(pairs)) => answer_from_caption(question, pairs),
                _ => None,
            };
            let answer = match from_caption {
                Some(answer) => answer,
                None => {
                    let grammar = Grammar::Answer(question.kind);
                    Tokenizer.decode(&self.decode(&clip, Some(&caption), Task::Ask, words, grammar, options).await?)
                }
            };
            answers.push(answer);
        }
        Ok((said, answers))
    }

    /// The clip's retrieval vector (unit length, `embed_dim` values): the mean of its encoded
    /// video tokens, projected. Comparable by dot product with [`embed_query`](Self::embed_query).
    pub async fn embed_clip(&self, clip: &Clip) -> Result<Vec<f32>> {
        let clip = self.model_input(clip, self.config.frames)?;
        let n = self.config.video_tokens();
        let video = self.embed_video(&patchify(&clip, &self.config), &vec![0.0; n]);
        let (h, _) = self.trunk(video, &sequence::video_only(n), None);
        read(self.video_embedding(h)).await
    }

    /// Audio description of a longer clip: a caption for every `window` frames (the last window
    /// may be shorter), each resampled to the model's clip, timed at `fps` frames per second.
    pub async fn describe_windows(&self, clip: &Clip, window: usize, fps: f64) -> Result<Vec<Cue>> {
        if window == 0 || !(fps > 0.0 && fps.is_finite()) {
            return Err(ModelError::Input(format!("window must be ≥ 1 frame and fps positive (got {window}, {fps})")));
        }
        let (frames, side) = (self.config.frames, self.config.size);
        let mut cues = Vec::new();
        for start in (0..clip.frames).step_by(window) {
            let count = window.min(clip.frames - start);
            let part = clip.slice(start, start + count)?.resized(frames, side, side)?;
            let text = self.describe(&part, DecodeOptions::default()).await?;
            cues.push(Cue { start: start as f64 / fps, end: (start + count) as f64 / fps, text });
        }
        Ok(cues)
    }

    /// A query's retrieval vector: a caption ("digit 3 moves up while digit 7 moves left") or a part
    /// of one ("digit 7 moves left"); words outside the vocabulary are an error.
    pub async fn embed_query(&self, query: &str) -> Result<Vec<f32>> {
        let mut words = Tokenizer.encode(query)?;
        if words.is_empty() {
            return Err(ModelError::Input("the query is empty".into()));
        }
        words.push(EOS_TOKEN);
        if words.len() + 1 > self.config.text_len {
            return Err(ModelError::Input(format!("the query is longer than {} words", self.config.text_len - 2)));
        }
        let x = self.embed_text(Some(Task::Retrieve), &words, 0);
        let (h, _) = self.trunk(x, &sequence::retrieve_text(words.len()), None);
        read(self.text_embedding(h)).await
    }

    /// Autoregressive decoding after `prefix` (a question, or nothing), until `<eos>`: the new
    /// words' ids, each picked among the words `grammar` allows next.
    async fn decode(&self, clip: &Clip, caption: Option<&[u16]>, task: Task, prefix: &[u16], grammar: Grammar, options: DecodeOptions) -> Result<Vec<u16>> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(options.seed);
        let (mut h, mut cache) = self.understand_prefix(clip, caption, task, prefix);
        let mut text = prefix.to_vec();
        // The segment has `text_len - 1` positions: the task token and at most 30 words + <eos>.
        while 1 + text.len() < self.config.text_len - 1 {
            let last = h.clone().narrow(1, h.dims()[1] - 1, 1);
            let mut logits = read(self.lm_logits(last)).await?;
            let said: Vec<&str> = text[prefix.len()..].iter().map(|&id| Tokenizer.vocabulary()[id as usize]).collect();
            let allowed = grammar.next_words(&said);
            if allowed.is_empty() {
                break; // unreachable while the grammar has no dead ends (its tests walk it)
            }
            keep_only(&mut logits, &allowed);
            let next = pick(&logits, options.temperature, &mut rng);
            if next == EOS_TOKEN {
                break;
            }
            text.push(next);
            if options.reencode {
                h = self.understand_prefix(clip, caption, task, &text).0;
            } else {
                let layout = self.text_layout(caption, task, text.len());
                let x = self.embed_text(None, &[next], text.len());
                let (h_new, c) = self.trunk(x, &layout, Some(&cache));
                (h, cache) = (h_new, c);
            }
        }
        Ok(text.split_off(prefix.len()))
    }

    /// Text → video by rectified flow: Euler steps from noise (t = 1) to data (t = 0).
    pub async fn generate(&self, prompt: &str, options: GenerateOptions, on_step: OnStep<'_>) -> Result<Clip> {
        check_steps(options.steps)?;
        if !(0.0..=MAX_GUIDANCE).contains(&options.guidance) {
            return Err(ModelError::Input(format!("guidance must be in 0..={MAX_GUIDANCE}, got {}", options.guidance)));
        }
        self.check_can_generate()?;
        let words = Tokenizer.encode(prompt)?;
        parse_caption(&prompt.to_lowercase())?;
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

    fn check_can_generate(&self) -> Result<()> {
        match self.can_generate() {
            true => Ok(()),
            false => Err(ModelError::NotLoaded { group: "generate" }),
        }
    }

    /// Keeps the first `frames_in` frames and generates the rest of the model's clip length.
    /// `frames_in` must be half the clip: the cell tokens hold every frame with one flow time, so
    /// nothing but the training split (first half clean) tells the model which frames are given.
    /// With one step the result is the clean-sample estimate from pure noise: the conditional
    /// mean, blurred where the future is uncertain (what an MSE benchmark scores best); more steps
    /// sample one sharp future.
    pub async fn continue_clip(&self, clip: &Clip, frames_in: usize, options: GenerateOptions, on_step: OnStep<'_>) -> Result<Clip> {
        check_steps(options.steps)?;
        self.check_can_generate()?;
        let c = &self.config;
        if frames_in != c.frames / 2 {
            return Err(ModelError::Input(format!(
                "frames_in must be {} (the model continues the second half of a {}-frame clip from its first half), got {frames_in}",
                c.frames / 2, c.frames
            )));
        }
        let clip = self.model_input(clip, frames_in)?;
        let mut padded = Clip::blank(c.frames, c.size, c.size, c.channels);
        padded.pixels[..frames_in * clip.frame_len()].copy_from_slice(&clip.pixels[..frames_in * clip.frame_len()]);
        let context = frames_in * c.frame_values();
        let mut x = clip_to_frames(&padded, c);
        let noise = gaussian(options.seed, x.len());
        x[context..].copy_from_slice(&noise[context..]);
        for step in 0..options.steps {
            let (t, t_next) = flow_times(step, options.steps);
            let mut estimate = read(self.video_estimate(Task::Continue, &[], &x, t, Some(frames_in - 1))?).await?;
            estimate[..context].copy_from_slice(&x[..context]);
            euler(&mut x[context..], &estimate[context..], t, t_next);
            report(on_step, step, options.steps, || frames_to_clip(&estimate, c)).await?;
        }
        Ok(frames_to_clip(&x, c))
    }
}

/// After every Euler step: let the host's event loop run (in a browser worker this is what lets an
/// abort message arrive mid-generation), then hand the callback the step's clean-sample estimate
/// (made only if it asks) and ask it whether to go on.
async fn report(on_step: OnStep<'_>, step: usize, steps: usize, estimate: impl Fn() -> Clip) -> Result<()> {
    let_the_event_loop_run().await;
    match on_step(Progress { step: step + 1, steps, estimate: &estimate }) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(ModelError::Cancelled { step: step + 1, steps }),
    }
}

/// A macrotask turn (`setTimeout(0)`): microtasks alone would not deliver worker messages.
#[cfg(target_arch = "wasm32")]
async fn let_the_event_loop_run() {
    use wasm_bindgen::{JsCast, JsValue};
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        let set_timeout = js_sys::Reflect::get(&global, &"setTimeout".into()).ok().and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        match set_timeout {
            Some(f) => drop(f.call2(&global, &resolve, &JsValue::from(0))),
            None => drop(resolve.call0(&JsValue::NULL)),
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

#[cfg(not(target_arch = "wasm32"))]
async fn let_the_event_loop_run() {}

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

/// The question's word ids, ending in "?", with room left for an answer in a `text_len` segment.
fn question_tokens(question: &str, text_len: usize) -> Result<Vec<u16>> {
    let mut ids = Tokenizer.encode(question)?;
    let mark = Tokenizer.id("?").expect("'?' is a word");
    if ids.last() != Some(&mark) {
        ids.push(mark);
    }
    if ids.len() + 4 > text_len {
        return Err(ModelError::Input("the question leaves no room for an answer".into()));
    }
    Ok(ids)
}

/// Rules out every word but `allowed` (words of the vocabulary, or the end of the sentence).
fn keep_only(logits: &mut [f32], allowed: &[&str]) {
    let ids: Vec<usize> = allowed
        .iter()
        .map(|&w| if w == END_OF_SENTENCE { EOS_TOKEN as usize } else { Tokenizer.id(w).expect("grammar words are vocabulary") as usize })
        .collect();
    for (id, logit) in logits.iter_mut().enumerate() {
        if !ids.contains(&id) {
            *logit = f32::NEG_INFINITY;
        }
    }
}

fn pick(logits: &[f32], temperature: f32, rng: &mut impl Rng) -> u16 {
    if temperature <= 0.0 {
        let best = logits.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
        return best.0 as u16;
    }
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f32> = logits.iter().map(|v| ((v - max) / temperature).exp()).collect();
    let mut r = rng.random::<f32>() * weights.iter().sum::<f32>();
    for (i, w) in weights.iter().enumerate() {
        r -= w;
        if r <= 0.0 {
            return i as u16;
        }
    }
    (weights.len() - 1) as u16
}

fn classification(presence: Vec<f32>, motion: &[f32]) -> Classification {
    let digits = present_digits(&presence)
        .into_iter()
        .map(|d| {
            let row = &motion[d * 8..(d + 1) * 8];
            let m = (0..8).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap_or(0);
            DigitGuess {
                digit: d as u8,
                probability: presence[d],
                motion: Motion::from_id(m).expect("8 motions"),
                motion_probability: row[m],
            }
        })
        .collect();
    Classification { digits, digit_probabilities: presence }
}

/// The digit set read from ten independent presence probabilities: the `k` most likely digits,
/// `k` = their sum rounded (at least 1), ascending. Why not a 0.5 threshold: the probabilities also
/// say how many digits there are, and the count they imply is more often right than each
/// threshold decision (89.9 vs 87.7 % exact sets on 1 024 test clips, `readout_probe.py`).
pub fn present_digits(presence: &[f32]) -> Vec<usize> {
    let expected: f32 = presence.iter().sum();
    let k = (expected.round() as usize).clamp(1, presence.len().max(1));
    let mut ranked: Vec<usize> = (0..presence.len()).collect();
    ranked.sort_by(|&a, &b| presence[b].total_cmp(&presence[a]).then(a.cmp(&b)));
    ranked.truncate(k);
    ranked.sort_unstable();
    ranked
}

/// Candidates (unit embeddings) ranked by dot product with `query` (a unit embedding): `(index,
/// score)`, best first. The one ranking shared by search, the CLI and the retrieval evaluation.
pub fn rank_by_similarity(query: &[f32], candidates: &[Vec<f32>]) -> Vec<(usize, f32)> {
    let mut scored: Vec<(usize, f32)> =
        candidates.iter().enumerate().map(|(i, c)| (i, query.iter().zip(c).map(|(a, b)| a * b).sum())).collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored
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

    #[test]
    fn the_digit_set_takes_as_many_digits_as_the_probabilities_add_up_to() {
        // Two digits expected (sum 1.96): the second is kept though it is below 0.5.
        let mut p = vec![0.07; 10];
        (p[3], p[7]) = (0.95, 0.45);
        assert_eq!(present_digits(&p), vec![3, 7]);
        // Three expected (sum 3.04).
        (p[1], p[7]) = (0.7, 0.9);
        assert_eq!(present_digits(&p), vec![1, 3, 7]);
        // Nothing confident still names the single most likely digit; ties go to the smaller digit.
        assert_eq!(present_digits(&[0.1; 10]), vec![0]);
        assert_eq!(present_digits(&[1.0; 10]), (0..10).collect::<Vec<_>>());
    }
}
