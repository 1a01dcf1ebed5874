"""The segmentation model's per-pixel decoder features, beside its
probabilities, and the model saved and loaded back."""
import numpy as np
import torch

from a2lc_napari.engine.config import ModelConfig
from a2lc_napari.engine.model import Segmenter, build_net


def small_model() -> Segmenter:
    """A random-weight model of 3 classes, the same on every call."""
    torch.manual_seed(0)
    config = ModelConfig(width=8, max_side=32, device="cpu")
    return Segmenter(build_net(3, config), 3, config)


def random_image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (40, 50, 3)).astype(np.uint8)


def test_predict_with_features_shapes_and_same_probabilities():
    seg, image = small_model(), random_image()
    probs, feats = seg.predict(image, features=True)
    assert probs.shape == (3, 40, 50) and feats.shape == (8, 40, 50)
    assert feats.dtype == np.float32 and np.isfinite(feats).all()
    np.testing.assert_array_equal(probs, seg.predict(image))
    np.testing.assert_allclose(probs.sum(0), 1, rtol=1e-5)


def test_the_same_model_saved_twice_is_the_same_bytes_and_loads_back(tmp_path):
    seg = small_model()
    seg.save(tmp_path / "a" / "model.pt")
    seg.save(tmp_path / "b" / "model.pt")
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()
    loaded = Segmenter.load(tmp_path / "a" / "model.pt", device="cpu")
    np.testing.assert_array_equal(loaded.predict(random_image()), seg.predict(random_image()))


def test_the_output_at_the_network_s_size_summarizes_as_the_full_size_maps():
    from a2lc_napari.engine.region_summary import summarize_image

    seg, image = small_model(), random_image()
    out = seg.output(image)
    assert out.logits.shape == (3, 13, 16) and out.features.shape == (8, 13, 16)
    probs, feats = seg.predict(image, features=True)
    labels = np.zeros((40, 50), np.uint8)
    regions = (np.arange(40)[:, None] // 10 * 5 + np.arange(50)[None, :] // 10 + 1)
    full = summarize_image(probs, labels, regions, 255, image=image, features=feats)
    fused = summarize_image(out, labels, regions, 255, image=image)
    np.testing.assert_allclose(fused.mean_prob, full.mean_prob, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fused.abc_parts, full.abc_parts, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fused.appearance, full.appearance, rtol=1e-5, atol=1e-6)


def test_training_runs_on_the_threads_the_environment_sets_whatever_ran_before(monkeypatch):
    # numba's parallel passes set OpenMP's thread count for the whole
    # process (torch shares it): training must not inherit it, or a resumed
    # session trains another model than one run without a stop.
    from a2lc_napari.engine.model import train_segmenter, training_threads
    from a2lc_napari.engine.progress import drive

    seen = []

    def load(name):
        seen.append(torch.get_num_threads())
        return random_image(), np.zeros((40, 50), np.uint8)

    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert training_threads() == 3
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as a numba pass may have left it
    try:
        drive(train_segmenter(load, ["a"], 3, 255, ModelConfig(width=8, max_side=32, crop=16,
                                                               steps=2, batch_size=1)),
              quiet=True)
        assert seen and set(seen) == {3}
        assert torch.get_num_threads() == 1  # given back as it was
    finally:
        torch.set_num_threads(before)
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert training_threads() >= 1
