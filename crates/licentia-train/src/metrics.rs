//! Evaluation metrics, computed in f64 on the host from predictions: accuracy, precision, recall,
//! F1 and ROC AUC (with ties averaged) for classification; RMSE, MAE and R² for regression.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EpochMetrics {
    pub epoch: u32,
    pub train_loss: f64,
    pub valid_loss: f64,
    pub accuracy: Option<f64>,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    pub auc: Option<f64>,
    pub rmse: Option<f64>,
    pub mae: Option<f64>,
    pub r2: Option<f64>,
}

/// ROC AUC by the rank-sum (Mann-Whitney) formula; tied scores share their average rank.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let n_pos = labels.iter().filter(|l| **l).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 || scores.len() != labels.len() {
        return None;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let mut ranks = vec![0f64; scores.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            ranks[idx[k]] = avg;
        }
        i = j + 1;
    }
    let pos_rank_sum: f64 = ranks.iter().zip(labels).filter(|(_, l)| **l).map(|(r, _)| *r).sum();
    Some((pos_rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0) / (n_pos as f64 * n_neg as f64))
}

/// Accuracy, precision, recall and F1 of binary predictions at 0.5.
pub fn binary(scores: &[f64], labels: &[bool]) -> (f64, f64, f64, f64) {
    let (mut tp, mut fp, mut tn, mut fneg) = (0f64, 0f64, 0f64, 0f64);
    for (s, l) in scores.iter().zip(labels) {
        match (*s >= 0.5, *l) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, false) => tn += 1.0,
            (false, true) => fneg += 1.0,
        }
    }
    let n = (tp + fp + tn + fneg).max(1.0);
    let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
    let recall = if tp + fneg > 0.0 { tp / (tp + fneg) } else { 0.0 };
    let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
    ((tp + tn) / n, precision, recall, f1)
}

/// Accuracy and macro-averaged precision, recall and F1 of class predictions.
pub fn multiclass(predicted: &[usize], actual: &[usize], classes: usize) -> (f64, f64, f64, f64) {
    let n = actual.len().max(1) as f64;
    let correct = predicted.iter().zip(actual).filter(|(p, a)| p == a).count() as f64;
    let (mut p_sum, mut r_sum, mut f_sum) = (0.0, 0.0, 0.0);
    for c in 0..classes {
        let tp = predicted.iter().zip(actual).filter(|(p, a)| **p == c && **a == c).count() as f64;
        let pp = predicted.iter().filter(|p| **p == c).count() as f64;
        let ap = actual.iter().filter(|a| **a == c).count() as f64;
        let p = if pp > 0.0 { tp / pp } else { 0.0 };
        let r = if ap > 0.0 { tp / ap } else { 0.0 };
        p_sum += p;
        r_sum += r;
        f_sum += if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
    }
    let k = classes.max(1) as f64;
    (correct / n, p_sum / k, r_sum / k, f_sum / k)
}

/// RMSE, MAE and R².
pub fn regression(predicted: &[f64], actual: &[f64]) -> (f64, f64, f64) {
    let n = actual.len().max(1) as f64;
    let mean = actual.iter().sum::<f64>() / n;
    let (mut se, mut ae, mut tot) = (0.0, 0.0, 0.0);
    for (p, a) in predicted.iter().zip(actual) {
        se += (p - a) * (p - a);
        ae += (p - a).abs();
        tot += (a - mean) * (a - mean);
    }
    let r2 = if tot > 0.0 { 1.0 - se / tot } else { 0.0 };
    ((se / n).sqrt(), ae / n, r2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_known_rankings() {
        assert_eq!(auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), Some(0.75));
        assert_eq!(auc(&[0.5, 0.5], &[false, true]), Some(0.5), "ties count half");
        assert_eq!(auc(&[0.2, 0.9], &[true, true]), None, "one class only");
    }

    #[test]
    fn classification_and_regression_figures() {
        let (acc, p, r, f1) = binary(&[0.9, 0.8, 0.2, 0.6], &[true, false, false, true]);
        assert_eq!((acc, p, r), (0.75, 2.0 / 3.0, 1.0));
        assert!((f1 - 0.8).abs() < 1e-12);
        let (rmse, mae, r2) = regression(&[1.0, 2.0, 3.0], &[1.0, 2.0, 4.0]);
        assert!((rmse - (1.0f64 / 3.0).sqrt()).abs() < 1e-12 && (mae - 1.0 / 3.0).abs() < 1e-12);
        assert!((r2 - (1.0 - 1.0 / (14.0 / 3.0))).abs() < 1e-12);
        assert_eq!(multiclass(&[0, 1, 2, 2], &[0, 1, 1, 2], 3).0, 0.75);
    }
}
