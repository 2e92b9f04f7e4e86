//! Sequence layouts: which segment may attend to which (Transfusion-style).
//!
//! The property the model relies on: a text token sees the segments its segment lists, and within
//! its own segment only itself and earlier tokens (causal); a video token sees its whole segment
//! (bidirectional) and the segments it lists. So in an understanding sequence
//! `[video | task + text]` the video never sees the text (one encoding serves every question), and a
//! caption token never sees a later caption token; in `[task + prompt | video]` the prompt never
//! sees the video.

use super::config::{gate_row, Modality, Task};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

#[derive(Clone, Debug)]
pub struct Segment {
    pub len: usize,
    pub task: Task,
    pub modality: Modality,
    /// Indices of the segments this one may attend to (itself included where allowed).
    pub visible: Vec<usize>,
}

#[derive(Clone, Debug, Default)]
pub struct Layout {
    pub segments: Vec<Segment>,
}

impl Layout {
    pub fn push(&mut self, len: usize, task: Task, modality: Modality, visible: &[usize]) -> usize {
        self.segments.push(Segment { len, task, modality, visible: visible.to_vec() });
        self.segments.len() - 1
    }

    pub fn len(&self) -> usize {
        self.segments.iter().map(|s| s.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn starts(&self) -> Vec<usize> {
        self.segments.iter().scan(0, |at, s| Some(std::mem::replace(at, *at + s.len))).collect()
    }

    /// `allowed[q][k]` for the whole sequence, row-major `[L, L]`.
    pub fn allowed(&self) -> Vec<bool> {
        let l = self.len();
        let starts = self.starts();
        let mut allowed = vec![false; l * l];
        for (i, seg) in self.segments.iter().enumerate() {
            for q in starts[i]..starts[i] + seg.len {
                for &j in &seg.visible {
                    for k in starts[j]..starts[j] + self.segments[j].len {
                        let causal_ok = j != i || seg.modality == Modality::Video || k <= q;
                        allowed[q * l + k] = causal_ok;
                    }
                }
            }
        }
        allowed
    }

    /// Attention mask `[1, 1, L, L]`, true = blocked (burn's convention).
    pub fn blocked(&self, device: &Device) -> Tensor<4, Bool> {
        let l = self.len();
        let blocked: Vec<bool> = self.allowed().into_iter().map(|a| !a).collect();
        Tensor::from_data(TensorData::new(blocked, [1, 1, l, l]), device)
    }

    pub fn gate_rows(&self) -> Vec<i64> {
        self.segments
            .iter()
            .flat_map(|s| std::iter::repeat_n(gate_row(s.task, s.modality) as i64, s.len))
            .collect()
    }

    pub fn gate_tensor(&self, device: &Device) -> Tensor<1, Int> {
        let rows = self.gate_rows();
        let n = rows.len();
        Tensor::from_data(TensorData::new(rows, [n]), device)
    }
}

/// `[video | task + text]`: the understanding layout for one task.
pub fn understand(video: usize, task: Task, text: usize) -> Layout {
    let mut layout = Layout::default();
    let v = layout.push(video, Task::Understand, Modality::Video, &[0]);
    layout.push(1 + text, task, Modality::Text, &[v, 1]);
    layout
}

/// `[video | describe + caption | task + text]`: describe, then answer. The last segment reads
/// the video, the clip's caption (`caption` tokens, `<eos>` included) and itself, so a question
/// can be answered from the words that bind each digit to its motion as well as from the pixels.
pub fn understand_after_caption(video: usize, caption: usize, task: Task, text: usize) -> Layout {
    let mut layout = Layout::default();
    let v = layout.push(video, Task::Understand, Modality::Video, &[0]);
    let c = layout.push(1 + caption, Task::Describe, Modality::Text, &[v, 1]);
    layout.push(1 + text, task, Modality::Text, &[v, c, 2]);
    layout
}

/// `[video]` alone: the clip's encoding, as every understanding task sees it.
pub fn video_only(video: usize) -> Layout {
    let mut layout = Layout::default();
    layout.push(video, Task::Understand, Modality::Video, &[0]);
    layout
}

/// `[retrieve + text]`: a query encoded without any clip.
pub fn retrieve_text(text: usize) -> Layout {
    let mut layout = Layout::default();
    layout.push(1 + text, Task::Retrieve, Modality::Text, &[0]);
    layout
}

/// `[task + prompt | video]`: `[generate + prompt | noisy video]`, or `[continue | video]` with
/// the context frames clean.
pub fn generation(task: Task, prompt: usize, video: usize) -> Layout {
    let mut layout = Layout::default();
    layout.push(1 + prompt, task, Modality::Text, &[0]);
    layout.push(video, task, Modality::Video, &[0, 1]);
    layout
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_causal_and_video_never_sees_text_in_understanding() {
        let layout = understand(4, Task::Describe, 3);
        let allowed = layout.allowed();
        let l = layout.len();
        let at = |q: usize, k: usize| allowed[q * l + k];
        for q in 0..4 {
            for k in 0..l {
                assert_eq!(at(q, k), k < 4, "video query {q} key {k}");
            }
        }
        for q in 4..l {
            for k in 0..l {
                assert_eq!(at(q, k), k < 4 || k <= q, "text query {q} key {k}");
            }
        }
    }

    #[test]
    fn an_answer_reads_the_caption_but_the_caption_never_reads_the_question() {
        let layout = understand_after_caption(4, 2, Task::Ask, 2);
        let allowed = layout.allowed();
        let l = layout.len();
        let at = |q: usize, k: usize| allowed[q * l + k];
        for k in 0..l {
            for q in 0..4 {
                assert_eq!(at(q, k), k < 4, "video query {q} key {k}");
            }
            for q in 4..7 {
                assert_eq!(at(q, k), k < 4 || (4..=q).contains(&k), "caption query {q} key {k}");
            }
            for q in 7..l {
                assert_eq!(at(q, k), k <= q, "question query {q} key {k}");
            }
        }
        assert_eq!(layout.gate_rows(), vec![1, 1, 1, 1, 4, 4, 4, 6, 6, 6]);
    }

    #[test]
    fn prompt_never_sees_video_in_generation() {
        let layout = generation(Task::Generate, 2, 4);
        let allowed = layout.allowed();
        let l = layout.len();
        for q in 0..3 {
            for k in 3..l {
                assert!(!allowed[q * l + k]);
            }
        }
        assert!((3..l).all(|q| (0..l).all(|k| allowed[q * l + k])));
        assert_eq!(layout.gate_rows(), vec![8, 8, 8, 9, 9, 9, 9]);
    }
}
