"""Data mIoU: current labels against ground truth (ALGORITHM.md, "Metrics")."""
from __future__ import annotations

import numpy as np


def confusion(labels: np.ndarray, gt: np.ndarray, num_classes: int,
              ignore_index: int) -> np.ndarray:
    """Confusion matrix over the pixels whose ground truth is a class.

    Parameters
    ----------
    labels, gt : (H, W) uint8
        Current labels and ground truth.

    Returns
    -------
    (K + 1, K) int64
        ``[predicted, true]`` counts; row K counts current-label ignore
        pixels, which are wrong for every class (not dropped).
    """
    valid = gt != ignore_index
    pred = labels[valid].astype(np.int64)
    pred[pred >= num_classes] = num_classes
    true = gt[valid].astype(np.int64)
    return np.bincount(pred * num_classes + true,
                       minlength=(num_classes + 1) * num_classes
                       ).reshape(num_classes + 1, num_classes)


def class_iou(conf: np.ndarray) -> np.ndarray:
    """(K,) IoU per class from a (K + 1, K) confusion; NaN where a class is
    neither in the ground truth nor in the labels."""
    tp = np.diag(conf[:-1]).astype(np.float64)
    union = conf[:-1].sum(axis=1) + conf.sum(axis=0) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def mean_iou(conf: np.ndarray) -> float:
    """Mean IoU in percent over the classes that occur."""
    return float(np.nanmean(class_iou(conf)) * 100)


def class_pixels(labels: np.ndarray, num_classes: int, ignore_index: int) -> np.ndarray:
    """(K + 1,) int64 pixels per class of (H, W) labels; the last entry counts
    ignore pixels."""
    values = np.where(labels == ignore_index, num_classes, labels).ravel()
    return np.bincount(values, minlength=num_classes + 1)
