"""ALC / A²LC acquisition formulas against hand-computed cases and a naive
per-region reference implementation."""
import os
import subprocess
import sys

import numpy as np
import pytest

from a2lc_napari.engine import acquisition as acq
from a2lc_napari.engine.region_summary import RegionSummary, majority, summarize_image

IGNORE = 255


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def naive_region(probs, labels, mask):
    """ALGORITHM.md's definitions, pixel by pixel, for one region."""
    f = probs[:, mask].T  # (n, K)
    lab = labels[mask]
    pred = f.argmax(1)
    y = np.where(lab == IGNORE, pred, lab)
    cil = 1 - f[np.arange(len(f)), y]
    dom = np.bincount(pred, minlength=probs.shape[0]).argmax()
    f_mp = f[pred == dom].mean(0)
    cos_mp = np.array([_cos(v, f_mp) for v in f])
    rep = int(np.argmax(cos_mp))
    sim = sum(_cos(f[rep], v) * c for v, c in zip(f, cil))
    parts = np.zeros(probs.shape[0])
    np.add.at(parts, y, cos_mp * cil)
    rows, cols = np.nonzero(mask)
    return dict(parts=parts, sim=sim, pixel=(rows[rep], cols[rep]), mean=f.mean(0))


def test_two_pixel_region_by_hand():
    # x0 = [1, 0], x1 = [0, 1], both labelled 1: D(m) ties to class 0, so
    # m' = {x0}; cos = [1, 0]; a_CIL = [1, 0]; a_ABC parts = [0, 1·1 + 0·0].
    probs = np.array([[[1.0, 0.0]], [[0.0, 1.0]]], dtype=np.float32)
    labels = np.array([[1, 1]], dtype=np.uint8)
    s = summarize_image(probs, labels, np.ones((1, 2), np.int32), IGNORE)
    np.testing.assert_allclose(s.abc_parts, [[0.0, 1.0]])
    assert s.pixel.tolist() == [[0, 0]]
    np.testing.assert_allclose(s.sim, [1.0])
    np.testing.assert_allclose(s.mean_prob, [[0.5, 0.5]])
    assert s.label_hist.tolist() == [[0, 2, 0]]
    assert s.size.tolist() == [2]


def test_maps_of_another_size_are_refused_before_the_compiled_pass():
    # A label map cropped by hand once made the pass read out of bounds (a crash).
    probs = np.full((2, 4, 5), 0.5, np.float32)
    regions = np.ones((4, 5), np.int32)
    with pytest.raises(ValueError, match="differ in size: labels 3x2, regions 5x4, "
                       "probabilities 5x4"):
        summarize_image(probs, np.zeros((2, 3), np.uint8), regions, IGNORE)
    with pytest.raises(ValueError, match="ground truth 5x3"):
        summarize_image(probs, np.zeros((4, 5), np.uint8), regions, IGNORE,
                        gt=np.zeros((3, 5), np.uint8))


def test_ignore_pixels_use_the_prediction():
    # Label ignore at x1 → ỹ(x1) = argmax f(x1) = 1, a_CIL = 1 - 0.7.
    probs = np.array([[[0.9, 0.3]], [[0.1, 0.7]]], dtype=np.float32)
    labels = np.array([[0, IGNORE]], dtype=np.uint8)
    s = summarize_image(probs, labels, np.ones((1, 2), np.int32), IGNORE)
    ref = naive_region(probs, labels, np.ones((1, 2), bool))
    np.testing.assert_allclose(s.abc_parts[0], ref["parts"], rtol=1e-5)
    assert s.abc_parts[0, 1] > 0  # the ignore pixel counts under its predicted class
    assert s.label_hist.tolist() == [[1, 0, 1]]


# (37, 61): each of the pass's 4 blocks spans chunks of pixels, the last one short
@pytest.mark.parametrize("h, w", [(12, 15), (37, 61)])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_matches_naive_reference_on_random_maps(dtype, h, w):
    rng = np.random.default_rng(1)
    k = 5
    logits = rng.normal(size=(k, h, w)) * 2
    probs = (np.exp(logits) / np.exp(logits).sum(0)).astype(dtype)
    labels = rng.integers(0, k, (h, w)).astype(np.uint8)
    labels[rng.random((h, w)) < 0.1] = IGNORE
    regions = rng.integers(0, 7, (h, w)).astype(np.int32) * 3  # sparse ids, 0 = none
    gt = rng.integers(0, k, (h, w)).astype(np.uint8)
    s = summarize_image(probs, labels, regions, IGNORE, gt=gt, image_index=4)
    present = sorted(set(np.unique(regions)) - {0})
    assert s.ids.tolist() == present
    assert (s.image == 4).all()
    p32 = probs.astype(np.float32)
    for r, rid in enumerate(present):
        ref = naive_region(p32, labels, regions == rid)
        np.testing.assert_allclose(s.abc_parts[r], ref["parts"], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(s.sim[r], ref["sim"], rtol=1e-4)
        np.testing.assert_allclose(s.mean_prob[r], ref["mean"], rtol=1e-5)
        assert tuple(s.pixel[r]) == ref["pixel"]
        assert s.gt_pixel[r] == gt[ref["pixel"]]
        assert s.gt_hist[r, :k].sum() == (regions == rid).sum()


def test_representative_pass_is_optional():
    probs = np.full((2, 3, 3), 0.5, np.float32)
    s = summarize_image(probs, np.zeros((3, 3), np.uint8), np.ones((3, 3), np.int32),
                        IGNORE, representative=False)
    assert s.sim is None and s.pixel is None


def test_abc_weights_uniform_counts_give_one():
    # KL = 0 → w = ŵ^0 = 1 for present classes, 0 for absent ones.
    np.testing.assert_allclose(acq.abc_class_weights([5, 5, 0, 5]), [1, 1, 0, 1])


def test_abc_weights_by_formula():
    counts = np.array([100, 10, 0, 1])
    p = np.array([100, 10, 1]) / 111
    kl = float(np.sum(p * np.log(p / (1 / 3))))
    expected = [(1 / 100) ** kl ** 3, (1 / 10) ** kl ** 3, 0, 1]
    w = acq.abc_class_weights(counts)
    np.testing.assert_allclose(w, expected)
    assert w[3] == 1 and w[0] < w[1] < 1  # rarest 1, most frequent smallest


def test_abc_weights_empty():
    assert acq.abc_class_weights([0, 0]).tolist() == [0, 0]


def _summary(label_hist, abc_parts):
    label_hist = np.array(label_hist)
    n = len(label_hist)
    return RegionSummary(
        image=np.zeros(n, np.int32), ids=np.arange(1, n + 1, dtype=np.int32),
        size=label_hist.sum(1), label_hist=label_hist,
        abc_parts=np.array(abc_parts, dtype=float), mean_prob=np.zeros((n, 2), np.float32))


def test_class_counts_skip_ignore_and_excluded_regions():
    s = _summary([[3, 0, 4], [0, 2, 0], [5, 0, 0]], np.zeros((3, 2)))
    assert acq.class_counts(s).tolist() == [8, 2]
    assert acq.class_counts(s, np.array([False, False, True])).tolist() == [3, 2]


def test_abc_ranking_favours_rare_class_regions():
    # Same uncertainty mass, but region 1 is labelled with the rare class.
    s = _summary([[90, 0, 0], [0, 10, 0]], [[1.0, 0.0], [0.0, 1.0]])
    score = acq.region_scores(s, "abc")
    assert acq.rank(score).tolist() == [1, 0]


def test_abc_doubt_weights_a_abc_by_the_out_of_fold_doubt():
    # Region 0: 90 pixels of class 0, a_ABC parts 9; region 1: 10 of class 1,
    # parts 2. Class weights: n = (90, 10), KL = log 2 - H(0.9, 0.1).
    s = _summary([[90, 0, 0], [0, 10, 0]], [[9.0, 0.0], [0.0, 2.0]])
    s.oof_prob = np.array([[0.95, 0.05], [0.5, 0.5]], np.float32)
    kl = 0.9 * np.log(0.9 / 0.5) + 0.1 * np.log(0.1 / 0.5)
    w = np.array([(1 / 9) ** (kl ** 3), 1.0])  # rarest 1, others (n_min/n)^(KL³)
    abc = np.array([9.0 * w[0], 2.0 * w[1]])
    np.testing.assert_allclose(acq.region_scores(s, "abc"), abc)
    # The trees doubt region 0's label at 0.05 and region 1's at 0.5.
    np.testing.assert_allclose(acq.region_scores(s, "abc_doubt"), abc * [0.05, 0.5], rtol=1e-6)
    assert acq.rank(acq.region_scores(s, "abc")).tolist() == [0, 1]
    assert acq.rank(acq.region_scores(s, "abc_doubt")).tolist() == [1, 0]


def test_turns_take_the_doubt_first_then_a_abc_times_the_doubt():
    # Region 0: 90 pixels of class 0, a_ABC parts 9; regions 1 and 2: 10 of
    # class 1 each, parts 2 and 1. The trees doubt the labels at 0.4, 0.5, 0.8.
    s = _summary([[90, 0, 0], [0, 10, 0], [0, 10, 0]], [[9.0, 0.0], [0.0, 2.0], [0.0, 1.0]])
    s.oof_prob = np.array([[0.6, 0.4], [0.5, 0.5], [0.8, 0.2]], np.float32)
    p = np.array([90, 20]) / 110
    kl = float(np.sum(p * np.log(2 * p)))
    w = np.array([(20 / 90) ** (kl ** 3), 1.0])
    product = np.array([9.0 * w[0] * 0.4, 2.0 * 0.5, 1.0 * 0.8])  # 3.5, 1.0, 0.8
    np.testing.assert_allclose(acq.region_scores(s, "abc_doubt"), product, rtol=1e-6)
    assert acq.rank(acq.region_scores(s, "abc_doubt")).tolist() == [0, 1, 2]
    # Turns: the doubt's best (2), the product's best (0), then the doubt's
    # second (1).
    assert acq.rank(acq.region_scores(s, "turns")).tolist() == [2, 0, 1]
    # A region left out takes no place: without region 2 the doubt's best is 1.
    out = np.array([False, False, True])
    assert acq.rank(acq.region_scores(s, "turns", out), out).tolist() == [1, 0]


def test_equal_doubts_ask_the_larger_region_first():
    # Regions 0-2 have no label (doubt 1) and 1, 50 and 10 pixels; region 3,
    # 40 pixels of class 0, is doubted at 0.9, region 4 (class 1) at 0.2.
    s = _summary([[0, 0, 1], [0, 0, 50], [0, 0, 10], [40, 0, 0], [0, 30, 0]],
                 [[0.0, 0.0]] * 3 + [[4.0, 0.0], [0.0, 9.0]])
    s.oof_prob = np.array([[0.5, 0.5]] * 3 + [[0.1, 0.9], [0.2, 0.8]], np.float32)
    np.testing.assert_allclose(acq.label_doubt(s.oof_prob, s.label_hist),
                               [1, 1, 1, 0.9, 0.2], rtol=1e-6)
    assert acq.rank(acq.region_scores(s, "doubt")).tolist() == [1, 2, 0, 3, 4]
    # Turns: the largest unlabelled region, the product's best (region 3:
    # parts 4 at doubt 0.9, where region 4 has 9 at 0.2; both classes weigh
    # about 1 at 40 and 30 pixels), the next unlabelled, the product's
    # second, and the one-pixel sliver last.
    assert acq.rank(acq.region_scores(s, "turns")).tolist() == [1, 3, 2, 4, 0]
    out = np.array([False, True, False, False, False])  # answered by hand: the next one
    assert acq.rank(acq.region_scores(s, "doubt", out), out).tolist() == [2, 0, 3, 4]


def test_rank_breaks_ties_by_a_second_key_then_dataset_order():
    score, ties = np.array([1.0, 2, 1, 1]), np.array([5, 0, 7, 5])
    assert acq.rank(score, ties=ties).tolist() == [1, 2, 0, 3]
    assert acq.rank(score, np.array([False, False, True, False]), ties).tolist() == [1, 0, 3]


def test_taking_turns_by_hand():
    first, second = np.array([5.0, 4, 3, 2, 1]), np.array([1.0, 2, 3, 4, 5])
    np.testing.assert_array_equal(acq.taking_turns(first, second), [0, -2, -4, -3, -1])
    assert acq.rank(acq.taking_turns(first, second)).tolist() == [0, 4, 1, 3, 2]
    out = np.array([True, False, False, False, False])
    score = acq.taking_turns(first, second, out)
    assert score[0] == -np.inf
    assert acq.rank(score, out).tolist() == [1, 4, 2, 3]


def _turns_naive(first, second, exclude):
    """Walk both rankings a place at a time, taking each region once."""
    out = []
    for pair in zip(acq.rank(first, exclude).tolist(), acq.rank(second, exclude).tolist()):
        for r in pair:
            if r not in out:
                out.append(r)
    return out


def test_taking_turns_matches_walking_both_rankings():
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(1, 40))
        first, second = rng.integers(0, 6, n) / 5, rng.random(n)  # ties in first
        exclude = rng.random(n) < 0.3
        assert (acq.rank(acq.taking_turns(first, second, exclude), exclude).tolist()
                == _turns_naive(first, second, exclude))


def test_rank_is_stable_and_excludes():
    score = np.array([0.5, 2.0, 0.5, 1.0])
    assert acq.rank(score).tolist() == [1, 3, 0, 2]
    assert acq.rank(score, np.array([False, True, False, False])).tolist() == [3, 0, 2]


def test_majority_ignores_the_ignore_column():
    hist = np.array([[1, 1, 9], [0, 0, 4], [0, 3, 0]])
    assert majority(hist, IGNORE).tolist() == [0, IGNORE, 1]


def test_summary_round_trips_through_npz(tmp_path):
    probs = np.random.default_rng(0).dirichlet(np.ones(3), (4, 5)).transpose(2, 0, 1)
    s = summarize_image(probs.astype(np.float32), np.zeros((4, 5), np.uint8),
                        np.arange(20, dtype=np.int32).reshape(4, 5) // 7 + 1, IGNORE)
    s.save(tmp_path / "s.npz")
    t = RegionSummary.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(t.sim, s.sim)
    np.testing.assert_array_equal(t.keys(), s.keys())
    assert t.gt_hist is None


def _random_image(seed, k=4, h=10, w=12):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(k) * 0.5, (h, w)).transpose(2, 0, 1).astype(np.float32)
    return probs, rng.integers(0, k, (h, w)).astype(np.uint8)


def test_scores_do_not_depend_on_region_ids():
    probs, labels = _random_image(2)
    regions = np.arange(120, dtype=np.int32).reshape(10, 12) // 20 + 1  # ids 1..6
    new_id = np.array([0, 60, 7, 1000, 3, 42, 9], dtype=np.int32)
    a = summarize_image(probs, labels, regions, IGNORE)
    b = summarize_image(probs, labels, new_id[regions], IGNORE)
    row_in_b = [b.ids.tolist().index(new_id[i]) for i in a.ids]
    np.testing.assert_allclose(b.sim[row_in_b], a.sim)
    np.testing.assert_allclose(b.abc_parts[row_in_b], a.abc_parts)


def test_scores_are_sums_so_larger_regions_rank_first():
    # The same pixels twice over: twice the a_SIM and a_ABC.
    probs, labels = _random_image(3, h=4, w=6)
    twice_p = np.concatenate([probs, probs], axis=2)
    twice_l = np.concatenate([labels, labels], axis=1)
    one = summarize_image(probs, labels, np.ones((4, 6), np.int32), IGNORE)
    two = summarize_image(twice_p, twice_l, np.ones((4, 12), np.int32), IGNORE)
    np.testing.assert_allclose(two.sim, 2 * one.sim, rtol=1e-5)
    np.testing.assert_allclose(two.abc_parts, 2 * one.abc_parts, rtol=1e-5)


def test_disagreeing_region_ranks_above_agreeing_one():
    # Both regions are confidently predicted class 0; one is labelled 0, one 1.
    probs = np.zeros((2, 2, 4), np.float32)
    probs[0], probs[1] = 0.95, 0.05
    labels = np.array([[0, 0, 1, 1], [0, 0, 1, 1]], np.uint8)
    regions = np.array([[1, 1, 2, 2], [1, 1, 2, 2]], np.int32)
    s = summarize_image(probs, labels, regions, IGNORE)
    for ranking in ("sim", "abc"):
        assert acq.rank(acq.region_scores(s, ranking)).tolist() == [1, 0]


def test_values_outside_the_classes_count_as_ignore():
    # 200 is neither a class nor the ignore value: treated as unlabeled, never
    # used as an index.
    probs = np.array([[[0.9, 0.3]], [[0.1, 0.7]]], dtype=np.float32)
    a = summarize_image(probs, np.array([[0, 200]], np.uint8),
                        np.ones((1, 2), np.int32), IGNORE, gt=np.array([[1, 200]], np.uint8))
    b = summarize_image(probs, np.array([[0, IGNORE]], np.uint8),
                        np.ones((1, 2), np.int32), IGNORE, gt=np.array([[1, IGNORE]], np.uint8))
    np.testing.assert_array_equal(a.label_hist, b.label_hist)
    np.testing.assert_array_equal(a.gt_hist, b.gt_hist)
    np.testing.assert_allclose(a.abc_parts, b.abc_parts)


def test_appearance_matches_a_naive_reference():
    rng = np.random.default_rng(3)
    h, w, k, c = 6, 7, 3, 4
    probs = rng.dirichlet(np.ones(k), (h, w)).transpose(2, 0, 1).astype(np.float32)
    labels = rng.integers(0, k, (h, w)).astype(np.uint8)
    regions = rng.choice([0, 2, 5, 9], (h, w)).astype(np.int32)
    image = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    feats = rng.normal(size=(c, h, w)).astype(np.float32)
    s = summarize_image(probs, labels, regions, IGNORE, image=image, features=feats)
    assert s.appearance.shape == (len(s), 6 + c)
    for row, rid in enumerate(s.ids):
        mask = regions == rid
        rgb = image[mask].astype(np.float64) / 255
        expected = np.concatenate([rgb.mean(0), rgb.std(0), feats[:, mask].mean(1)])
        np.testing.assert_allclose(s.appearance[row], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("h, w", [(6, 7), (1, 7)])  # one row: no vertical gradient
def test_layout_matches_a_naive_reference(h, w):
    rng = np.random.default_rng(4)
    k = 3
    probs = rng.dirichlet(np.ones(k), (h, w)).transpose(2, 0, 1).astype(np.float32)
    labels = rng.integers(0, k, (h, w)).astype(np.uint8)
    regions = rng.choice([0, 2, 5, 9], (h, w)).astype(np.int32)
    image = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    s = summarize_image(probs, labels, regions, IGNORE, image=image)
    grey = image.astype(np.float64).mean(axis=2) / 255
    for row, rid in enumerate(s.ids):
        mask = regions == rid
        r, c = np.nonzero(mask)
        # central differences inside, one-sided at the borders
        gx = [(grey[i, min(j + 1, w - 1)] - grey[i, max(j - 1, 0)])
              / (min(j + 1, w - 1) - max(j - 1, 0)) for i, j in zip(r, c)]
        gy = [(grey[min(i + 1, h - 1), j] - grey[max(i - 1, 0), j])
              / (min(i + 1, h - 1) - max(i - 1, 0)) if h > 1 else 0 for i, j in zip(r, c)]
        expected = [np.abs(gx).mean(), np.abs(gy).mean(), (r / h).mean(), (c / w).mean()]
        np.testing.assert_allclose(s.layout[row], expected, rtol=1e-5, atol=1e-6)


def test_appearance_without_image_is_none_and_survives_a_round_trip(tmp_path):
    probs = np.full((2, 2, 2), 0.5, np.float32)
    labels = np.zeros((2, 2), np.uint8)
    regions = np.array([[1, 1], [2, 2]], np.int32)
    assert summarize_image(probs, labels, regions, IGNORE).appearance is None
    image = np.array([[[0, 0, 0], [255, 255, 255]], [[51, 51, 51]] * 2], np.uint8)
    s = summarize_image(probs, labels, regions, IGNORE, image=image)
    # region 1: a black and a white pixel, mean 0.5 and std 0.5; region 2: flat 0.2
    np.testing.assert_allclose(s.appearance, [[0.5] * 6, [0.2] * 3 + [0] * 3], atol=1e-6)
    s.save(tmp_path / "s.npz")
    np.testing.assert_array_equal(RegionSummary.load(tmp_path / "s.npz").appearance,
                                  s.appearance)


# Summaries of one fixed random image, saved to the .npz file named first.
SUMMARIZE = """
import sys
import numpy as np
from a2lc_napari.engine.region_summary import summarize_image
rng = np.random.default_rng(7)
k, h, w = 12, 96, 128
logits = rng.normal(size=(k, h, w)) * 2
probs = (np.exp(logits) / np.exp(logits).sum(0)).astype(np.float32)
labels = rng.integers(0, k, (h, w)).astype(np.uint8)
labels[rng.random((h, w)) < 0.1] = 255
regions = (np.arange(h)[:, None] // 12 * 16 + np.arange(w)[None] // 8).astype(np.int32) + 1
s = summarize_image(probs, labels, regions, 255, gt=rng.integers(0, k, (h, w)).astype(np.uint8),
                    image=rng.integers(0, 256, (h, w, 3)).astype(np.uint8),
                    features=rng.normal(size=(16, h, w)).astype(np.float32))
s.save(sys.argv[1])
"""


def test_summaries_are_the_same_bits_compiled_afresh_or_loaded_from_the_cache(tmp_path):
    """The compiled passes give the same bits whether a process compiles
    them or loads them from the cache another one wrote, on any number of
    threads: a session's processes and workers each do one or the other."""
    def run(out, cache, **env):
        subprocess.run([sys.executable, "-c", SUMMARIZE, str(tmp_path / out)], check=True,
                       timeout=300, env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / cache),
                                         **env})
        with np.load(tmp_path / out) as data:
            return {name: data[name] for name in data.files}

    compiled = run("compiled.npz", "cache")
    assert list((tmp_path / "cache").rglob("*.nbc"))  # it wrote the cache ...
    loaded = run("loaded.npz", "cache")  # ... that this one loads
    worker = run("worker.npz", "cache", NUMBA_NUM_THREADS="1")
    assert compiled.keys() == loaded.keys() == worker.keys()
    assert {"abc_parts", "mean_prob", "sim", "appearance"} <= compiled.keys()
    for name in compiled:
        assert compiled[name].tobytes() == loaded[name].tobytes() == worker[name].tobytes(), name
