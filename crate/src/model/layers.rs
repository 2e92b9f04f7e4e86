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
    /// `[in, out]`: the transposed view of the file's `[out, in]`; f32, or on a GPU burn's
    /// quantized tensor where the pack was int8/int4.
    Tensor(Tensor<2>),
    /// The pack's int8/int4 codes, multiplied by the CPU backend's own kernels (`quantized.rs`).
    Codes(Arc<QuantizedMatrix>),
}

impl LinearWeight {
    /// `name`'s weight as `device` runs it: where the pack was int8/int4, the codes on the CPU
    /// backend and burn's quantized tensor on a GPU; f32 otherwise.
    pub fn load(weights: &Weights, name: &str, device: &Device) -> Result<Self> {
        match weights.quantized(name) {
            Some(QuantizedWeight::Codes(matrix)) => Ok(Self::from_codes(matrix, device)),
            Some(QuantizedWeight::OnDevice(tensor)) => Ok(Self::Tensor(tensor.transpose())),
            None => Ok(Self::Tensor(weights.tensor2(name, device)?.transpose())),
        }
    }

    /// `name`'s weight cut into `parts` consecutive equal row ranges of the file's `[out, in]`
    /// (PyTorch's packed q, k, v), each as [`load`](Self::load) gives it. burn cannot slice a
    /// quantized tensor without re-quantizing it, so the parts are cut from the codes (the loader
    /// keeps packed q, k, v on the host for a GPU too: `quant::is_packed_qkv`).
    pub fn load_rows(weights: &Weights, name: &str, parts: usize, device: &Device) -> Result<Vec<Self>> {
        if let Some(QuantizedWeight::Codes(matrix)) = weights.quantized(name) {
            return Ok(matrix.split_rows(parts).into_iter().map(|part| Self::from_codes(Arc::new(part), device)).collect());
        }
        let w = weights.tensor2(name, device)?.transpose();
        let rows = w.dims()[1] / parts;
        Ok((0..parts).map(|p| Self::Tensor(w.clone().narrow(1, p * rows, rows))).collect())
    }

    fn from_codes(matrix: Arc<QuantizedMatrix>, device: &Device) -> Self {
        match *device == Device::flex() {
            true => Self::Codes(matrix),
            false => Self::Tensor(matrix.to_device(device).transpose()),
        }
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
            LinearWeight::Tensor(weight) => project(x, weight.clone(), Some(self.bias.clone())),
            LinearWeight::Codes(matrix) => matrix.project(x, self.bias.clone()),
        }
    }
}

/// `[.., in] × [in, out] (+ bias)` → `[.., out]`, where the weight is a transposed view of the
/// file's [out, in]. On the CPU backend it runs as one 2-D product: burn-flex multiplies a strided
/// 2-D operand in place but copies it to contiguous memory for the batched (3-D) product that
/// `burn::tensor::module::linear` asks for, so every call copied the whole weight (half the time
/// of a browser `describe`). The GPU backend keeps `linear` (natively on lavapipe the two forms
/// time the same) except for a quantized weight, which gets the one 2-D product too: the form its
/// tests check (`quantized.rs`), where `linear` may broadcast the weight to a batched product.
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

/// Whether a weight is burn's quantized tensor (GPU backends only: `QuantizedMatrix::to_device`).
pub(crate) fn is_quantized(tensor: &Tensor<2>) -> bool {
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

    /// On a GPU the codes go up as burn's quantized tensors, the packed q, k, v as three of them,
    /// and each multiplies as its rows of the widened weight.
    #[cfg(feature = "wgpu")]
    #[test]
    fn gpu_weights_load_quantized_whole_and_by_rows() {
        use crate::model::quantized::Codes;
        use crate::pack::quant::quantize_int8;
        use std::collections::HashMap;
        let gpu = crate::model::test_wgpu();
        let (rows, cols) = (96, 64);
        let w: Vec<f32> = (0..rows * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 40.0).collect();
        let (codes, scales) = quantize_int8(&w, cols);
        let matrix = Arc::new(QuantizedMatrix::new(rows, cols, Codes::Int8(codes), scales));
        let wide = matrix.widen();
        let quantized = ["a.weight", "b.in_proj_weight"].map(|n| (n.to_string(), QuantizedWeight::Codes(matrix.clone()))).into();
        let weights = Weights::from_parts(HashMap::new(), HashMap::new(), quantized);
        let x: Vec<f32> = (0..2 * cols).map(|i| (i % 7) as f32 - 3.0).collect();
        let product = |weight: &LinearWeight| match weight {
            LinearWeight::Tensor(t) => {
                assert!(is_quantized(t), "{:?}", t.dtype());
                crate::model::readback::read_on_cpu(Tensor::<2>::from_data(TensorData::new(x.clone(), [2, cols]), &gpu).matmul(t.clone()))
            }
            LinearWeight::Codes(_) => panic!("host codes on a GPU"),
        };
        let expected = |first: usize, count: usize| -> Vec<f32> {
            (0..2).flat_map(|t| (first..first + count).map(move |o| (t, o))).map(|(t, o)| (0..cols).map(|i| x[t * cols + i] * wide[o * cols + i]).sum()).collect()
        };
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(p, q)| (p - q).abs() < 1e-3);
        assert!(close(&product(&LinearWeight::load(&weights, "a.weight", &gpu).unwrap()), &expected(0, rows)));
        let parts = LinearWeight::load_rows(&weights, "b.in_proj_weight", 3, &gpu).unwrap();
        for (p, part) in parts.iter().enumerate() {
            assert!(close(&product(part), &expected(p * 32, 32)), "part {p}");
        }
    }

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
