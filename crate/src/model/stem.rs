//! The conv stem: per-frame stroke features at 1/8 resolution, projected to one vector per tubelet
//! and added to the linear tubelet embedding. A linear embedding alone learns digit shapes slowly
//! because digits straddle tubelet borders; small convolutions are translation-equivariant and
//! cost ~10 % of a forward pass. The strided ones see 15 px; the residual context convs after them
//! widen that to 47 px (55 px per tubelet), so a cell can see a whole 28 px digit
//! (`scripts/trainer/probes/stem_probe.py`: per-tubelet digit accuracy of the stem alone, 72 → 83 %).
//! Generation reads the same per-frame features at all three resolutions: the last as the video
//! decoder's folded cells, all three as its skips (`decoder.rs`).

use super::config::ModelConfig;
use super::cpu_conv;
use super::error::Result;
use super::weights::Weights;
use super::layers::gelu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor};

/// PyTorch's `nn.Conv2d` (weight `[out, in, kh, kw]`, same layout in burn).
#[derive(Clone, Debug)]
pub(super) struct Conv2d {
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    padding: usize,
    kernels: cpu_conv::Kernels,
}

impl Conv2d {
    pub(super) fn load(weights: &Weights, name: &str, stride: usize, padding: usize, device: &Device) -> Result<Self> {
        Ok(Self {
            weight: weights.tensor4(&format!("{name}.weight"), device)?,
            bias: weights.tensor1(&format!("{name}.bias"), device)?,
            stride,
            padding,
            kernels: cpu_conv::Kernels::default(),
        })
    }

    pub(super) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [out_channels, channels, kh, kw] = self.weight.dims();
        if (kh, kw, self.stride, self.padding) == (3, 3, 1, 1) && cpu_conv::pays(&x, channels, out_channels) {
            // Winograd's F(4×4, 3×3): 1/4 of the multiply-adds of burn-flex's im2col convolution.
            return cpu_conv::conv3x3(x, &self.weight, self.bias.clone(), &self.kernels);
        }
        let options = ConvOptions::new([self.stride; 2], [self.padding; 2], [1, 1], 1);
        conv2d(x, self.weight.clone(), Some(self.bias.clone()), options)
    }
}

#[derive(Clone, Debug)]
pub struct VideoStem {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    /// Residual 3×3 convs at 1/8 resolution: they widen what each cell sees from 15 px to a whole
    /// 28 px digit (`ModelConfig::stem_context`).
    context: Vec<Conv2d>,
    /// Kernel = stride = tubelet_hw / 8: a linear map of each tubelet's tt × C × k × k cells.
    proj: Conv2d,
}

impl VideoStem {
    pub fn load(weights: &Weights, config: &ModelConfig, device: &Device) -> Result<Self> {
        let k = config.tubelet_hw / 8;
        Ok(Self {
            conv1: Conv2d::load(weights, "stem.conv1", 2, 1, device)?,
            conv2: Conv2d::load(weights, "stem.conv2", 2, 1, device)?,
            conv3: Conv2d::load(weights, "stem.conv3", 2, 1, device)?,
            context: (0..config.stem_context)
                .map(|i| Conv2d::load(weights, &format!("stem.context.{i}"), 1, 1, device))
                .collect::<Result<_>>()?,
            proj: Conv2d::load(weights, "stem.proj", k, 0, device)?,
        })
    }

    /// Per-frame features at 1/2, 1/4 and 1/8 resolution (the last after the context convs): what
    /// the tubelet projection reads, and the video decoder's skips.
    ///
    /// # Shapes
    /// `frames`: `[T, C, H, W]` → `[T, c/2, H/2, W/2]`, `[T, c, H/4, W/4]`, `[T, c, H/8, W/8]`
    pub fn levels(&self, frames: Tensor<4>) -> [Tensor<4>; 3] {
        let f1 = gelu(self.conv1.forward(frames));
        let f2 = gelu(self.conv2.forward(f1.clone()));
        let mut f3 = gelu(self.conv3.forward(f2.clone()));
        for conv in &self.context {
            f3 = f3.clone() + gelu(conv.forward(f3));
        }
        [f1, f2, f3]
    }

    /// The tubelet projection of the last level `[T, c, H/8, W/8]` → `[N, D]` in token order t, h, w.
    pub fn tokens(&self, x: Tensor<4>, config: &ModelConfig) -> Tensor<2> {
        let (gt, cells) = (config.frames / config.tubelet_t, config.size / 8);
        // Stack the tubelet's frames as channels (channel = dt·C + c), as the trainer does.
        let x = x.reshape([gt, config.tubelet_t * config.stem_channels, cells, cells]);
        let x = self.proj.forward(x); // [gt, D, gh, gw]
        x.permute([0, 2, 3, 1]).reshape([config.video_tokens(), config.d_model])
    }
}
