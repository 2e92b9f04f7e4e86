//! The two plain layers everything is built from, holding burn tensors loaded by name.

use super::error::Result;
use super::quantized::QuantizedMatrix;
use super::weights::{QuantizedWeight, Weights};
use burn::tensor::activation;
use burn::tensor::module::{layer_norm, linear};
use burn::tensor::{DType, Device, Tensor, TensorData};
use std::sync::Arc;

/// PyTorch's `nn.Linear`: files store weight as [out, in]; burn's `linear` wants [in, out].
#[derive(Clone, Debug)]
pub struct Linear {
    weight: LinearWeight,
    bias: Tensor<1>,
}

#[derive(Clone, Debug)]
pub enum LinearWeight {
    /// `[in, out]`: the transposed view of the file's `[out, in]` (on a GPU, burn's quantized
    /// tensor where the pack was int8/int4).
    Float(Tensor<2>),
    /// The pack's int8/int4 codes, kept on the CPU backend (`quantized.rs`).
    Quantized(Arc<QuantizedMatrix>),
}

impl LinearWeight {
    /// `name`'s weight as `device` runs it: where the pack was int8/int4, the codes on the CPU
    /// backend and burn's quantized tensor on a GPU (f32 where burn's blocks do not fit the row);
    /// f32 otherwise.
    pub fn load(weights: &Weights, name: &str, device: &Device) -> Result<Self> {
        match weights.quantized(name) {
            Some(QuantizedWeight::Host(matrix)) => Ok(Self::from_codes(matrix, device)),
            Some(QuantizedWeight::Device(tensor)) => Ok(Self::Float(tensor.transpose())),
            None => Ok(Self::Float(weights.tensor2(name, device)?.transpose())),
        }
    }

    /// `name`'s weight cut into `parts` consecutive equal row ranges of the file's `[out, in]`
    /// (PyTorch's packed q, k, v), each as [`load`](Self::load) gives it. burn cannot slice a
    /// quantized tensor without re-quantizing it, so the parts are cut from the host codes (the
    /// loader keeps packed q, k, v there for a GPU too: `quant::is_packed_qkv`).
    pub fn load_rows(weights: &Weights, name: &str, parts: usize, device: &Device) -> Result<Vec<Self>> {
        match weights.quantized(name) {
            Some(QuantizedWeight::Host(matrix)) => {
                Ok(matrix.split_rows(parts).into_iter().map(|part| Self::from_codes(Arc::new(part), device)).collect())
            }
            _ => {
                let w = match Self::load(weights, name, device)? {
                    Self::Float(w) if is_quantized(&w) => w.dequantize(),
                    Self::Float(w) => w,
                    Self::Quantized(_) => unreachable!("only host codes load as Quantized"),
                };
                let rows = w.dims()[1] / parts;
                Ok((0..parts).map(|p| Self::Float(w.clone().narrow(1, p * rows, rows))).collect())
            }
        }
    }

    fn from_codes(matrix: Arc<QuantizedMatrix>, device: &Device) -> Self {
        if *device == Device::flex() {
            return Self::Quantized(matrix);
        }
        let on_device = matrix.to_device(device).unwrap_or_else(|| Tensor::from_data(TensorData::new(matrix.widen(), matrix.shape()), device));
        Self::Float(on_device.transpose())
    }
}

impl Linear {
    pub fn load(weights: &Weights, name: &str, device: &Device) -> Result<Self> {
        Ok(Self {
            weight: LinearWeight::load(weights, &format!("{name}.weight"), device)?,
            bias: weights.tensor1(&format!("{name}.bias"), device)?,
        })
    }

    pub fn new(weight: LinearWeight, bias: Tensor<1>) -> Self {
        Self { weight, bias }
    }

    /// # Shapes
    /// `[.., in]` → `[.., out]`
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match &self.weight {
            LinearWeight::Float(weight) => project(x, weight.clone(), Some(self.bias.clone())),
            LinearWeight::Quantized(matrix) => matrix.project(x, self.bias.clone()),
        }
    }
}

/// `[.., in] × [in, out] (+ bias)` → `[.., out]`, where the weight is a transposed view of the
/// file's [out, in]. On the CPU backend it runs as one 2-D product: burn-flex multiplies a strided
/// 2-D operand in place but copies it to contiguous memory for the batched (3-D) product that
/// `burn::tensor::module::linear` asks for, so every call copied the whole weight (half the time
/// of a browser `describe`). The GPU backend keeps `linear` (natively on lavapipe the two forms
/// time the same) except for a quantized weight: `linear` would reshape it to 3-D, which burn
/// does not do for block-quantized tensors.
pub fn project<const D: usize>(x: Tensor<D>, weight: Tensor<2>, bias: Option<Tensor<1>>) -> Tensor<D> {
    if weight.device() != Device::flex() && !is_quantized(&weight) {
        return linear(x, weight, bias);
    }
    let mut dims = x.dims();
    let rows = dims[..D - 1].iter().product();
    let y = x.reshape([rows, dims[D - 1]]).matmul(weight);
    let y = match bias {
        Some(bias) => y + bias.unsqueeze(),
        None => y,
    };
    dims[D - 1] = y.dims()[1];
    y.reshape(dims)
}

fn is_quantized(tensor: &Tensor<2>) -> bool {
    matches!(tensor.dtype(), DType::QFloat(_))
}

/// PyTorch's `nn.LayerNorm` (eps 1e-5) over the last dimension.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    gamma: Tensor<1>,
    beta: Tensor<1>,
}

impl LayerNorm {
    pub fn load(weights: &Weights, name: &str, device: &Device) -> Result<Self> {
        Ok(Self {
            gamma: weights.tensor1(&format!("{name}.weight"), device)?,
            beta: weights.tensor1(&format!("{name}.bias"), device)?,
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        layer_norm(x, self.gamma.clone(), Some(self.beta.clone()), 1e-5)
    }
}

/// Exact (erf) GELU, as PyTorch's `nn.GELU()`. On the CPU backend it runs here, on the host values:
/// burn-flex maps a scalar libm `erff` over the tensor, which the compiler cannot vectorise (13 %
/// of a browser classify in the profile); the branch-free rational erf below vectorises, and the
/// two extra copies cost far less. Other backends keep burn's kernel.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if device != Device::flex() {
        return activation::gelu(x);
    }
    let dims = x.dims();
    let mut values = x.into_data().convert::<f32>().try_into_vec::<f32>().expect("an f32 tensor");
    for v in values.iter_mut() {
        *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
    }
    Tensor::from_data(TensorData::new(values, dims), &device)
}

/// erf for f32 within a few ulp: a rational fit on [-4, 4] (erf(±4) is ±1 to f32 precision), the
/// one Eigen and XLA use; no branches, so loops over it vectorise.
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    for c in [-2.101_024e-6, -5.692_506_4e-5, -7.349_906_3e-4, -2.954_600_2e-3, -1.609_603_3e-2] {
        p = x2 * p + c;
    }
    let mut q = x2 * -1.456_607_2e-5 - 2.133_740_6e-4;
    for c in [-1.682_827e-3, -7.373_329_3e-3, -1.426_474e-2] {
        q = x2 * q + c;
    }
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_the_reference_to_a_few_ulp() {
        let worst = (-6000..=6000).map(|i| i as f32 / 1000.0).map(|x| (erf(x) as f64 - libm::erf(x as f64)).abs()).fold(0.0, f64::max);
        assert!(worst < 5e-7, "max |erf - reference| = {worst:e}");
    }

    #[test]
    fn cpu_gelu_equals_burns_kernel() {
        let x = Tensor::<1>::from_data(TensorData::new((-400..400).map(|i| i as f32 / 50.0).collect::<Vec<_>>(), [800]), &Device::flex());
        let ours: Vec<f32> = gelu(x.clone()).into_data().try_into_vec().unwrap();
        let burns: Vec<f32> = activation::gelu(x).into_data().try_into_vec().unwrap();
        let worst = ours.iter().zip(&burns).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-6, "{worst:e}");
    }
}
