//! What the CLI and the browser call, on top of the network (`crate::model`): classify, describe,
//! ask, embed and search here; words out in `decode.rs`, video out in `sampler.rs`. This layer
//! turns clips and words into the network's inputs and its outputs into answers.
//!
//! Every read-back goes through `into_data_async`, so the same code runs on WebGPU in a browser
//! (where synchronous reads are impossible) and natively (driven by a blocking executor). How a
//! host gets a turn between generation steps is the caller's ([`StepHandler::pause`]): nothing
//! here knows about browsers.

mod decode;
mod domain;
mod places;
mod sampler;

pub use decode::{AnswerSource, DecodeOptions};
pub use domain::{Appearance, Description, NOT_MOVING_DIGITS};
pub use places::End;
pub use sampler::{no_progress, GenerateOptions, OnStep, Progress, StepHandler, MAX_GUIDANCE, MAX_STEPS, MIN_FLOW_TIME};

use crate::data::{answer_from_caption, parse_caption, parse_question, Clip, Cue, Grammar, Motion, QuestionKind, Tokenizer, EOS_TOKEN, NO_DIGITS};
use crate::model::{patchify, read, sequence, Cache, Layout, ModelError, Result, Task, UniVid};
use burn::tensor::activation::{sigmoid, softmax};
use burn::tensor::Tensor;
use decode::question_tokens;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

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

impl UniVid {
    /// The clip as the model reads it: it must already have the model's geometry (see
    /// `Clip::resized`); colours are converted to the model's channels (RGB → luminance for
    /// grayscale models, gray → R = G = B for RGB ones).
    pub(crate) fn model_input<'a>(&self, clip: &'a Clip, min_frames: usize) -> Result<Cow<'a, Clip>> {
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
    pub(crate) fn understand_prefix(&self, clip: &Clip, caption: Option<&[u16]>, task: Task, text: &[u16]) -> (Tensor<3>, Cache) {
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

    pub(crate) fn text_layout(&self, caption: Option<&[u16]>, task: Task, text: usize) -> Layout {
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

    /// The clip's caption, with how sure the model is of it and whether the clip looks like moving
    /// digits at all; "no digits" for a clip with nothing in it (read off the pixels, not decoded).
    pub async fn describe(&self, clip: &Clip, options: DecodeOptions) -> Result<Description> {
        Ok(self.describe_and_ask(clip, &[], options).await?.0)
    }

    /// Describes the clip, then answers with that caption in view (the model was trained to read
    /// it: "which digit moves left ?" is a lookup in the words it just wrote).
    pub async fn ask(&self, clip: &Clip, question: &str, options: DecodeOptions) -> Result<String> {
        let (_, mut answers) = self.describe_and_ask(clip, &[question], options).await?;
        Ok(answers.remove(0))
    }

    /// Describes the clip once and answers every question with that caption in view: the same
    /// caption and answers as [`describe`](Self::describe) and [`ask`](Self::ask) one by one.
    pub async fn describe_and_ask(&self, clip: &Clip, questions: &[&str], options: DecodeOptions) -> Result<(Description, Vec<String>)> {
        let clip = self.model_input(clip, self.config.frames)?;
        let questions = questions
            .iter()
            .map(|q| Ok((question_tokens(q, self.config.text_len)?, parse_question(q)?)))
            .collect::<Result<Vec<_>>>()?;
        let look = Appearance::of(&clip);
        let (description, mut caption) = if look.is_empty() {
            let description = Description { text: NO_DIGITS.into(), confidence: 1.0, out_of_domain: look.is_unfamiliar(None) };
            (description, Tokenizer.encode(NO_DIGITS)?)
        } else {
            let (caption, log_probability) = self.decode(&clip, None, Task::Describe, &[], Grammar::Caption, options).await?;
            let confidence = log_probability.exp();
            let description = Description { text: Tokenizer.decode(&caption), confidence, out_of_domain: look.is_unfamiliar(Some(confidence)) };
            (description, caption)
        };
        let pairs = parse_caption(&description.text).ok(); // always parses: the decode kept to the grammar
        caption.push(EOS_TOKEN); // as in training, where the caption segment ends with <eos>
        let mut answers = Vec::with_capacity(questions.len());
        for (words, question) in &questions {
            let from_caption = match (options.answers, &pairs) {
                (AnswerSource::Caption, Some(pairs)) => match answer_from_caption(question, pairs) {
                    Some(answer) => Some(answer),
                    None => self.place_answer(&clip, question).await?,
                },
                _ => None,
            };
            let answer = match from_caption {
                Some(answer) => answer,
                None => {
                    let grammar = Grammar::Answer(question.kind);
                    Tokenizer.decode(&self.decode(&clip, Some(&caption), Task::Ask, words, grammar, options).await?.0)
                }
            };
            answers.push(answer);
        }
        Ok((description, answers))
    }

    /// "Where does digit D start / end up ?" for a digit the caption names, from the locate head;
    /// `None` for other questions or a checkpoint without the head.
    async fn place_answer(&self, clip: &Clip, question: &crate::data::Question) -> Result<Option<String>> {
        let end = match question.kind {
            QuestionKind::WhereStart => End::Start,
            QuestionKind::WhereEnd => End::Finish,
            _ => return Ok(None),
        };
        let Some(digit) = question.digit else { return Ok(None) };
        Ok(self.digit_place(clip, digit, end).await?.map(|place| place.phrase().to_string()))
    }

    /// The clip's retrieval vector (unit length, `embed_dim` values): the mean of its encoded
    /// video tokens, projected. Comparable by dot product with [`embed_query`](Self::embed_query).
    pub async fn embed_clip(&self, clip: &Clip) -> Result<Vec<f32>> {
        read(self.video_embedding(self.video_states(clip)?)).await
    }

    /// The final states `[1, N, D]` of the clip's video tokens, read on their own (video sees only
    /// video): what retrieval and the locate head read.
    pub(crate) fn video_states(&self, clip: &Clip) -> Result<Tensor<3>> {
        let clip = self.model_input(clip, self.config.frames)?;
        let n = self.config.video_tokens();
        let video = self.embed_video(&patchify(&clip, &self.config), &vec![0.0; n]);
        Ok(self.trunk(video, &sequence::video_only(n), None).0)
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
            let said = self.describe(&part, DecodeOptions::default()).await?;
            cues.push(Cue { start: start as f64 / fps, end: (start + count) as f64 / fps, text: said.spoken() });
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
/// score)`, best first, ties in index order (a stable sort; `www/univid/search.js` ranks the same
/// way). The one ranking shared by search, the CLI and the retrieval evaluation.
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
