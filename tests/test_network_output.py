"""The network's output resized pixel by pixel as the regions are summed:
the grid against torch's own resize, a hand-computed case, and the whole
summary against the one made from full-size maps."""
from dataclasses import fields

import numpy as np
import pytest
import torch
import torch.nn.functional as F


from a2lc_napari.engine.network_output import NetworkOutput, bilinear_grid
from a2lc_napari.engine.region_summary import RegionSummary, exp_nonpositive, summarize_image


def resized(low: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(C, H, W): ``low`` (C, h, w) resized through the grid, in numpy."""
    (ys, wy), (xs, wx) = bilinear_grid(low.shape[1], shape[0]), bilinear_grid(low.shape[2],
                                                                              shape[1])
    rows = low[:, ys[:, 0]] * wy[:, 0, None] + low[:, ys[:, 1]] * wy[:, 1, None]
    return rows[:, :, xs[:, 0]] * wx[:, 0] + rows[:, :, xs[:, 1]] * wx[:, 1]


@pytest.mark.parametrize("low, out", [((3, 5), (7, 11)), ((4, 4), (4, 4)), ((2, 3), (9, 4)),
                                      ((1, 1), (3, 2)), ((32, 64), (128, 256))])
def test_the_grid_resizes_as_torch_does(low, out):
    data = np.random.default_rng(0).normal(size=(2, *low)).astype(np.float32)
    expected = F.interpolate(torch.from_numpy(data)[None], size=out, mode="bilinear",
                             align_corners=False)[0].numpy()
    np.testing.assert_allclose(resized(data, out), expected, rtol=0, atol=1e-6)


def test_the_pass_exp_is_np_exp_to_a_float32_ulp_or_two():
    x = np.concatenate([[0, -1e-30, -1e-7, -0.5, -np.log(2), -1, -10, -80, -86.9],
                        -np.random.default_rng(0).random(100_000) * 87]).astype(np.float32)
    out = x.copy()
    exp_nonpositive(out, np.empty(len(x), np.int32), len(x))
    assert out[0] == 1 and out[1] == 1
    np.testing.assert_allclose(out, np.exp(x.astype(np.float64)), rtol=1.2e-7, atol=0)
    # only the first n values are taken
    part = x[:5].copy()
    exp_nonpositive(part, np.empty(5, np.int32), 3)
    np.testing.assert_array_equal(part[3:], x[3:5])


def test_a_hand_computed_softmax_of_resized_logits():
    # Class 0's logit 0 then 2 across 2 pixels, class 1's 0: resized to 4
    # pixels, class 0's logit is 0, 0.5, 1.5, 2 (bilinear_grid's example).
    logits = np.array([[[0.0, 2.0]], [[0.0, 0.0]]], np.float32)
    labels = np.array([[0, 0, 1, 255]], np.uint8)
    regions = np.array([[1, 1, 2, 2]], np.int32)
    s = summarize_image(NetworkOutput(logits), labels, regions, 255)
    v = np.array([0, 0.5, 1.5, 2])
    p0 = np.exp(v) / (np.exp(v) + 1)
    np.testing.assert_allclose(s.mean_prob[:, 0], [p0[:2].mean(), p0[2:].mean()], rtol=1e-6)
    assert s.label_hist.tolist() == [[2, 0, 0], [0, 1, 1]]
    # Region 1: both pixels predicted 0 (a tie goes to the lower class), labelled 0.
    f = np.stack([p0[:2], 1 - p0[:2]], axis=1)
    mean = f.mean(axis=0)
    cos = f @ mean / np.linalg.norm(f, axis=1) / np.linalg.norm(mean)
    np.testing.assert_allclose(s.abc_parts[0], [(cos * (1 - f[:, 0])).sum(), 0], rtol=1e-6)
    np.testing.assert_array_equal(s.pixel[0], [0, cos.argmax()])


def test_summaries_of_the_resized_output_equal_those_of_full_size_maps():
    rng = np.random.default_rng(1)
    h, w, k, c = 37, 53, 4, 3
    logits = (3 * rng.normal(size=(k, 9, 13))).astype(np.float32)
    features = rng.normal(size=(c, 9, 13)).astype(np.float32)
    probs = torch.softmax(torch.from_numpy(resized(logits, (h, w))), dim=0).numpy()
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    labels = rng.integers(0, k + 1, (h, w)).astype(np.uint8)
    labels[labels == k] = 255
    regions = (np.arange(h)[:, None] // 6 * 10 + np.arange(w)[None, :] // 7).astype(np.int32)
    gt = rng.integers(0, k, (h, w)).astype(np.uint8)
    full = summarize_image(probs, labels, regions, 255, gt=gt, image=image,
                           features=resized(features, (h, w)))
    fused = summarize_image(NetworkOutput(logits, features), labels, regions, 255, gt=gt,
                            image=image)
    for field in fields(RegionSummary):
        a, b = getattr(full, field.name), getattr(fused, field.name)
        if a is None:
            assert b is None, field.name
        elif a.dtype.kind in "iu":
            np.testing.assert_array_equal(a, b, err_msg=field.name)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=field.name)
