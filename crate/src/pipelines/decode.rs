//! Words out: autoregressive decoding inside the language's grammar, greedy or sampled, with a
//! key/value cache.

use crate::data::{Clip, Grammar, Tokenizer, END_OF_SENTENCE, EOS_TOKEN};
use crate::model::{read, ModelError, Result, Task, UniVid};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// How text is decoded: greedy (temperature 0) or sampled with a seed; always within the
/// language's grammar (a caption that parses, an answer its question can have).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct DecodeOptions {
    pub temperature: f32,
    pub seed: u64,
    /// Re-run the whole sequence for every word instead of using the key/value cache: the
    /// reference the cache is tested against (same words) and timed against (`decode_speed`).
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

impl UniVid {
    /// Autoregressive decoding after `prefix` (a question, or nothing), until `<eos>`: the new
    /// words' ids, each picked among the words `grammar` allows next, and the natural log of the
    /// probability the model gives that sentence among the grammar's (each word's softmax over the
    /// allowed words, `<eos>` included).
    pub(super) async fn decode(&self, clip: &Clip, caption: Option<&[u16]>, task: Task, prefix: &[u16], grammar: Grammar, options: DecodeOptions) -> Result<(Vec<u16>, f32)> {
        let mut log_probability = 0.0;
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
            log_probability += log_softmax_at(&logits, next as usize);
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
        Ok((text.split_off(prefix.len()), log_probability))
    }

}

/// The question's word ids, ending in "?", with room left for an answer in a `text_len` segment.
pub(super) fn question_tokens(question: &str, text_len: usize) -> Result<Vec<u16>> {
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

/// `ln softmax(logits)[at]`, stable (ruled-out words are −∞ and add nothing).
fn log_softmax_at(logits: &[f32], at: usize) -> f32 {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    logits[at] - max - logits.iter().map(|v| (v - max).exp()).sum::<f32>().ln()
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

