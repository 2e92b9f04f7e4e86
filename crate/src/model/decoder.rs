//! Generation's video path: time folded into channels (as in SimVP) and a conv decoder with U-Net
//! skips. Each 8-px cell of the frame is one token holding every frame's stem features and pixels;
//! the trunk's state of a cell reads out `cell_channels` features per frame, and three transposed
//! convs take them back to pixels, with skips at every scale from the stem's features and pixels of
//! the frame itself and of an anchor frame (the last clean one when continuing; none for
//! text → video). Strokes are then copied and shifted by convolutions instead of being redrawn by
//! a linear map at every offset inside a 16-px tubelet, which is what the earlier head had to do
//! (model card, design probes: one-step continuation 134.8 against 152.8 after 6 000 clips).

use super::config::ModelConfig;
use super::cpu_conv;
use super::error::Result;
use super::layers::{gelu, Linear};
use super::stem::Conv2d;
use super::weights::Weights;
use burn::tensor::module::conv_transpose2d;
use burn::tensor::ops::ConvTransposeOptions;
use burn::tensor::{Device, Tensor};

/// PyTorch's `nn.ConvTranspose2d(kernel 4, stride 2, padding 1)`: doubles height and width.
/// Weight `[in, out, 4, 4]` in both.
#[derive(Clone, Debug)]
pub(super) struct Upsample {
    weight: Tensor<4>,
    bias: Tensor<1>,
    kernels: cpu_conv::Kernels,
}

impl Upsample {
    pub(super) fn load(weights: &Weights, name: &str, device: &Device) -> Result<Self> {
        Ok(Self {
            weight: weights.tensor4(&format!("{name}.weight"), device)?,
            bias: weights.tensor1(&format!("{name}.bias"), device)?,
            kernels: cpu_conv::Kernels::default(),
        })
    }

    pub(super) fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [channels, out_channels, _, _] = self.weight.dims();
        if cpu_conv::pays(&x, channels, out_channels) {
            // Each output parity by Winograd: 9/16 of the multiply-adds of burn-flex's col2im.
            return cpu_conv::upsample(x, &self.weight, self.bias.clone(), &self.kernels);
        }
        let options = ConvTransposeOptions::new([2, 2], [1, 1], [0, 0], [1, 1], 1);
        conv_transpose2d(x, self.weight.clone(), Some(self.bias.clone()), options)
    }
}

#[derive(Clone, Debug)]
pub struct VideoDecoder {
    fold: Linear,
    /// `[cells, D]`: each cell's learned position.
    pos: Tensor<2>,
    readout: Linear,
    up1: Upsample,
    up2: Upsample,
    up3: Upsample,
    out: Conv2d,
}

impl VideoDecoder {
    pub fn load(weights: &Weights, device: &Device) -> Result<Self> {
        Ok(Self {
            fold: Linear::load(weights, "decoder.fold", device)?,
            pos: weights.tensor2("decoder.pos", device)?,
            readout: Linear::load(weights, "decoder.readout", device)?,
            up1: Upsample::load(weights, "decoder.up1", device)?,
            up2: Upsample::load(weights, "decoder.up2", device)?,
            up3: Upsample::load(weights, "decoder.up3", device)?,
            out: Conv2d::load(weights, "decoder.out", 1, 1, device)?,
        })
    }

    /// Folded cell tokens (flow time not yet added): per frame its stem features, then its 8×8
    /// pixels (row, column, channel), all frames in one token.
    ///
    /// # Shapes
    /// `frames`: `[T, C, H, W]`, `f3`: `[T, c, H/8, W/8]` → `[cells, D]`
    pub fn tokens(&self, frames: Tensor<4>, f3: Tensor<4>, config: &ModelConfig) -> Tensor<2> {
        let (t, ch, s, c) = (config.frames, config.channels, config.size, config.stem_channels);
        let g = s / 8;
        let pixels = frames.reshape([t, ch, g, 8, g, 8]).permute([2, 4, 0, 3, 5, 1]).reshape([g * g, t, 64 * ch]);
        let features = f3.permute([2, 3, 0, 1]).reshape([g * g, t, c]);
        let folded = Tensor::cat(vec![features, pixels], 2).reshape([g * g, t * (c + 64 * ch)]);
        self.fold.forward(folded) + self.pos.clone()
    }

    /// The clean-sample estimate of every frame from the trunk's cell states.
    ///
    /// # Shapes
    /// `h`: `[cells, D]`; `levels`: the stem's levels of `frames` (`VideoStem::levels`);
    /// `frames`: `[T, C, H, W]` the tokens were made from → `[T, C, H, W]`
    pub fn forward(&self, h: Tensor<2>, levels: [Tensor<4>; 3], frames: Tensor<4>, anchor: Option<usize>, config: &ModelConfig) -> Tensor<4> {
        let (t, g) = (config.frames, config.size / 8);
        let x = self.readout.forward(h).reshape([g, g, t, config.cell_channels]).permute([2, 3, 0, 1]);
        // Each frame's own features beside the anchor frame's (zeros without one).
        let skip = |level: Tensor<4>| {
            let other = match anchor {
                Some(a) => level.clone().narrow(0, a, 1).repeat_dim(0, t),
                None => level.zeros_like(),
            };
            Tensor::cat(vec![level, other], 1)
        };
        let [f1, f2, f3] = levels;
        let x = gelu(self.up1.forward(Tensor::cat(vec![x, skip(f3)], 1)));
        let x = gelu(self.up2.forward(Tensor::cat(vec![x, skip(f2)], 1)));
        let x = gelu(self.up3.forward(Tensor::cat(vec![x, skip(f1)], 1)));
        self.out.forward(Tensor::cat(vec![x, skip(frames)], 1))
    }
}
