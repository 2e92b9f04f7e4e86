//! The UniVid network, on any burn [`Device`](burn::tensor::Device); what callers do with it
//! (classify, describe, generate, …) is `crate::pipelines`.
//!
//! ## Data flow, and why
//! - **Clip → tokens.** A 20×64×64 clip is cut into 2×16×16 tubelets (160 tokens of 512 values,
//!   scaled to [-1, 1]): 160 tokens keep attention affordable on a 2-core CPU and in a browser.
//!   Each token is a linear embedding of its tubelet, plus a conv stem's features (three stride-2
//!   convolutions per frame, residual 3×3 context convolutions that widen each cell's view to a
//!   whole 28 px digit, then one projection per tubelet: digits straddle tubelet borders and a
//!   linear embedding alone did not learn their shapes), plus factorised learned positions
//!   (time + row + column) and an embedding of the token's flow time t (0 for clean video).
//!   Colour is a config choice (`channels: 3`): a tubelet's values run (t, y, x, channel), so an
//!   RGB token is three times as wide and nothing else changes; pipelines convert any clip to the
//!   model's channels (RGB → luminance for the shipped grayscale model, gray → R = G = B).
//! - **Text → tokens.** A closed word vocabulary (`data::Tokenizer`); each text segment starts with
//!   a task token (classify, describe, ask, generate, continue, retrieve) that also acts as `<bos>`.
//! - **Clip → cells, for generation** (`decoder.rs`). Generation folds time into channels (as
//!   SimVP does): one token per 8-px cell holds every frame's stem features and pixels (64 tokens
//!   for a 64×64 clip), so the trunk sees where each stroke is in every frame at once.
//! - **One trunk, joint attention** (Transfusion): `[video | task + text]` for understanding
//!   (`ask` describes first and answers in `[video | describe + caption | ask + question]`),
//!   `[task + prompt | cells]` for generation. Text is causal within its segment, video is
//!   bidirectional; `sequence.rs` states the mask property and tests it.
//! - **Gated experts.** Each block's FFN mixes a few expert MLPs with weights from a learned table
//!   indexed by (task, modality): routing that can be read off exactly (`gate_weights`).
//! - **Heads.** Digit presence + per-digit motion from the classify token; a tied language head for
//!   captions and answers (greedy or sampled, with a key/value cache); a video decoder for the
//!   rectified flow x_t = (1 − t)·x₀ + t·ε, sampled with Euler steps and classifier-free guidance
//!   (the trainer drops the prompt 10 % of the time): each cell's state reads out features per
//!   frame, and transposed convs with U-Net skips from the stem (of the frame itself and of the
//!   last clean frame) draw the clean frames x₀; the sampler derives the velocity (x_t − x₀)/t
//!   (predicting ε − x₀ directly left the first shipped model's samples a blur). A linear readout
//!   of 2×16×16 tubelets, the earlier head, had to redraw strokes at every offset inside a tubelet
//!   and never carried a digit forward (model card: the video-path design probes).
//! - **Continuation** is the same flow with the first frames given clean (t = 0) in the sequence;
//!   each step's x₀ is also the live preview handed to `OnStep`.
//! - **Retrieval.** A clip's vector is the mean of its encoded video tokens (`[video]` alone, the
//!   same encoding every understanding task reads), projected and normalised; a text's vector is
//!   the mean of a `[retrieve + text]` segment that sees only itself, projected and normalised. A
//!   CLIP-style loss (with several positives where the ground truth says so, e.g. partial queries)
//!   puts both in one space, so a dot product ranks clips for a query and captions for a clip.
//! - **Training-only signal.** The trainer also asks each final video token which digits are
//!   centred in its tubelet and how they move (a head it never exports): dense supervision that
//!   teaches the trunk to find and follow digits, which clip-level labels alone taught too slowly.
//!
//! The PyTorch twin used for training (`scripts/trainer/model.py`) has the same tensor names and
//! layouts; `tests/parity` checks both agree.

pub mod attention;
mod cpu_attention;
mod cpu_conv;
mod block;
mod config;
mod decoder;
mod error;
mod experts;
pub(crate) mod layers;
mod probe;
pub(crate) mod quantized;
mod readback;
pub(crate) mod sequence;
pub mod slots;
mod stem;
mod univid;
mod video;
mod weights;

pub use config::{gate_row, Modality, GATE_ROLES, ModelConfig, Prediction, Task, LOCATE_OUTPUTS, TASKS};
pub use error::{ModelError, Result};
pub use readback::read;
pub use probe::{probe_clip, probe_difference, run_probe, Probe, PROBE_SEED};
pub use sequence::Layout;
pub(crate) use univid::Cache;
pub use univid::UniVid;
pub use video::{clip_to_frames, frames_to_clip, gaussian, patchify, time_features, tokens_to_frames, unpatchify};
pub use weights::Weights;
pub(crate) use weights::QuantizedWeight;

pub(crate) use weights::to_f32;

/// The wgpu device the unit tests share (Vulkan; lavapipe without a GPU): burn registers the
/// default device once per process and the tests run in parallel.
#[cfg(all(test, feature = "wgpu"))]
pub(crate) fn test_wgpu() -> burn::tensor::Device {
    static WGPU: std::sync::OnceLock<burn::tensor::Device> = std::sync::OnceLock::new();
    WGPU.get_or_init(|| {
        burn::tensor::Device::wgpu_options().init().expect("no wgpu adapter: install mesa-vulkan-drivers (scripts/setup) for lavapipe")
    })
    .clone()
}
