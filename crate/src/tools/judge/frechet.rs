//! Fréchet distance between two sets of feature vectors, each summarised by a Gaussian:
//! `|μa − μb|² + tr(Σa + Σb − 2 (Σa^½ Σb Σa^½)^½)`. Over the judge's features it is a
//! small-domain stand-in for FVD — *not* FVD, which uses an I3D network trained on Kinetics.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// The distance between the Gaussians fitted to `a` and `b` (rows: samples, equal lengths).
/// Needs at least two samples per side; returns `None` otherwise or on ragged rows.
pub fn frechet_distance(a: &[Vec<f64>], b: &[Vec<f64>]) -> Option<f64> {
    let (mean_a, cov_a) = moments(a)?;
    let (mean_b, cov_b) = moments(b)?;
    if mean_a.len() != mean_b.len() {
        return None;
    }
    let root_a = psd_sqrt(&cov_a);
    let cross = psd_sqrt(&(&root_a * &cov_b * &root_a));
    let distance = (mean_a - mean_b).norm_squared() + cov_a.trace() + cov_b.trace() - 2.0 * cross.trace();
    Some(distance.max(0.0)) // rounding can leave a tiny negative
}

/// Mean and unbiased covariance of the rows.
fn moments(rows: &[Vec<f64>]) -> Option<(DVector<f64>, DMatrix<f64>)> {
    let dim = rows.first()?.len();
    if rows.len() < 2 || rows.iter().any(|r| r.len() != dim) {
        return None;
    }
    let x = DMatrix::from_row_iterator(rows.len(), dim, rows.iter().flatten().copied());
    let mean = DVector::from_iterator(dim, x.column_iter().map(|c| c.mean()));
    let centred = DMatrix::from_fn(rows.len(), dim, |i, j| x[(i, j)] - mean[j]);
    let cov = centred.transpose() * &centred / (rows.len() - 1) as f64;
    Some((mean, cov))
}

/// Square root of a symmetric positive semi-definite matrix (negative rounding noise clamped).
fn psd_sqrt(m: &DMatrix<f64>) -> DMatrix<f64> {
    let symmetric = (m + m.transpose()) * 0.5;
    let eigen = SymmetricEigen::new(symmetric);
    let roots = eigen.eigenvalues.map(|v| v.max(0.0).sqrt());
    &eigen.eigenvectors * DMatrix::from_diagonal(&roots) * eigen.eigenvectors.transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(n: usize, shift: f64) -> Vec<Vec<f64>> {
        (0..n).map(|i| vec![(i % 7) as f64 + shift, ((i * 3) % 5) as f64 * 0.5, (i % 2) as f64]).collect()
    }

    #[test]
    fn a_set_is_at_distance_zero_from_itself() {
        let a = samples(50, 0.0);
        assert!(frechet_distance(&a, &a).unwrap() < 1e-9);
    }

    #[test]
    fn a_pure_shift_costs_its_squared_length() {
        // Equal covariances: only the means differ, by 2 along the first axis.
        let d = frechet_distance(&samples(50, 0.0), &samples(50, 2.0)).unwrap();
        assert!((d - 4.0).abs() < 1e-6, "{d}");
    }

    #[test]
    fn different_spreads_are_measured_exactly() {
        // 1-D: N(0, 1) vs N(0, 4) → (1 − 2)² = 1; samples ±1 and ±2 have those variances (n−1 = 1·…).
        let a: Vec<Vec<f64>> = [-1.0, 1.0, -1.0, 1.0].iter().map(|&v| vec![v]).collect();
        let b: Vec<Vec<f64>> = a.iter().map(|v| vec![v[0] * 2.0]).collect();
        let (va, vb) = (4.0 / 3.0, 16.0 / 3.0); // unbiased variances of ±1 and ±2
        let expected = (f64::sqrt(va) - f64::sqrt(vb)).powi(2);
        assert!((frechet_distance(&a, &b).unwrap() - expected).abs() < 1e-9);
        assert!((frechet_distance(&b, &a).unwrap() - expected).abs() < 1e-9, "symmetric");
    }

    #[test]
    fn too_few_or_ragged_samples_are_refused() {
        assert_eq!(frechet_distance(&samples(1, 0.0), &samples(5, 0.0)), None);
        assert_eq!(frechet_distance(&[vec![1.0, 2.0], vec![1.0]], &samples(5, 0.0)), None);
        assert_eq!(frechet_distance(&samples(5, 0.0), &[vec![1.0], vec![2.0]]), None);
    }
}
