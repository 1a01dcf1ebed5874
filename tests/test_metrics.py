import numpy as np

from a2lc_napari.engine.metrics import class_iou, confusion, mean_iou

IGNORE = 255


def test_data_miou_by_hand():
    # gt:     0 0 1 1 255
    # labels: 0 1 1 255 0
    # class 0: TP 1, FP 0 (the last pixel has gt ignore: not counted), FN 1 → 1/2
    # class 1: TP 1, FP 1, FN 1 (the ignore-labelled pixel counts as wrong) → 1/3
    gt = np.array([[0, 0, 1, 1, IGNORE]], np.uint8)
    labels = np.array([[0, 1, 1, IGNORE, 0]], np.uint8)
    conf = confusion(labels, gt, 2, IGNORE)
    assert conf.tolist() == [[1, 0], [1, 1], [0, 1]]
    np.testing.assert_allclose(class_iou(conf), [1 / 2, 1 / 3])
    np.testing.assert_allclose(mean_iou(conf), (1 / 2 + 1 / 3) / 2 * 100)


def test_absent_class_is_left_out_of_the_mean():
    gt = np.zeros((2, 2), np.uint8)
    conf = confusion(gt.copy(), gt, 3, IGNORE)
    assert np.isnan(class_iou(conf)[1:]).all()
    assert mean_iou(conf) == 100.0


def test_ignore_labels_lower_the_score():
    gt = np.zeros((1, 4), np.uint8)
    labels = np.array([[0, 0, IGNORE, IGNORE]], np.uint8)
    assert mean_iou(confusion(labels, gt, 1, IGNORE)) == 50.0
