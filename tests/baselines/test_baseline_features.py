"""Pixel features: the patch path equals the whole-image path, band roles are checked."""
import numpy as np
import pytest

from baselines.features import (default_roles, feature_names, parse_roles, patch_features,
                                pixel_features, strip_features)
from csc.errors import BandError, PatchSizeError


def all_patches(image, k):
    """Every K×K patch of ``image`` reflect-padded at its borders, in raster order."""
    h = k // 2
    padded = np.pad(image, ((h, h), (h, h), (0, 0)), mode="reflect")
    view = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(0, 1))
    return np.moveaxis(view, 2, -1).reshape(-1, k, k, image.shape[-1])


@pytest.mark.parametrize("illumination", [False, True])
@pytest.mark.parametrize("k", [1, 3, 5, 7])
def test_patch_features_equal_whole_image_features_everywhere(k, illumination):
    image = np.random.default_rng(k).random((17, 23, 4)).astype(np.float32)
    roles = default_roles(4)
    full = pixel_features(image, roles=roles, window=k, illumination=illumination)
    from_patches = patch_features(all_patches(image, k), roles=roles, illumination=illumination)
    assert full.shape == (17, 23, len(feature_names(roles, window=k,
                                                    illumination=illumination)))
    np.testing.assert_allclose(from_patches, full.reshape(-1, full.shape[-1]), atol=1e-5)


def test_strip_features_of_a_padded_strip_equal_the_image_rows():
    image = np.random.default_rng(0).random((30, 20, 4)).astype(np.float32)
    roles = default_roles(4)
    full = pixel_features(image, roles=roles, window=5)
    # rows 10..19 with two true rows of context above and below, reflected left and right
    strip = np.pad(image[8:22], ((0, 0), (2, 2), (0, 0)), mode="reflect")
    np.testing.assert_allclose(strip_features(strip, roles=roles, window=5), full[10:20],
                               atol=1e-5)


def test_normalised_differences_and_texture_have_known_values():
    image = np.zeros((5, 5, 4), np.float32)
    image[..., 0], image[..., 1], image[..., 3] = 0.2, 0.6, 0.2   # red, green, nir
    image[2, 2, 2] = 1.0                                          # one bright blue pixel
    names = feature_names(default_roles(4), window=3)
    feats = pixel_features(image, roles=default_roles(4), window=3)
    at = dict(zip(names, feats[2, 2]))
    assert at["ndwi"] == pytest.approx((0.6 - 0.2) / (0.6 + 0.2))
    assert at["ndvi"] == pytest.approx(0.0)
    assert at["band3_blue_mean3"] == pytest.approx(1 / 9)
    assert at["band3_blue_std3"] == pytest.approx(np.std([1.0] + [0.0] * 8), rel=1e-5)
    assert at["band1_red_std3"] == pytest.approx(0.0, abs=1e-6)
    assert "ndsi" not in names


def test_snow_index_needs_a_swir_band():
    roles = parse_roles("red,green,blue,nir,swir", 5)
    assert "ndsi" in feature_names(roles)
    image = np.full((3, 3, 5), 0.1, np.float32)
    image[..., 1], image[..., 4] = 0.8, 0.05
    at = dict(zip(feature_names(roles), pixel_features(image, roles=roles)[1, 1]))
    assert at["ndsi"] == pytest.approx(0.75 / 0.85)


def test_rgb_images_get_rgb_roles_and_no_index():
    assert default_roles(3) == ("red", "green", "blue")
    assert feature_names(default_roles(3)) == ["band1_red", "band2_green", "band3_blue"]


@pytest.mark.parametrize("text, match", [
    ("red,green,blue", "name 3 band"),
    ("red,green,blue,thermal", "unknown band role"),
    ("red,red,blue,nir", "repeat a role"),
])
def test_bad_band_roles_are_explained(text, match):
    with pytest.raises(BandError, match=match):
        parse_roles(text, 4)


def test_even_window_is_refused():
    with pytest.raises(PatchSizeError, match="the feature window must be an odd whole number ≥ 1"):
        pixel_features(np.zeros((5, 5, 4)), roles=default_roles(4), window=4)


def test_illumination_features_do_not_change_in_shadow():
    sunlit = np.array([[[0.30, 0.50, 0.60, 0.40]]], np.float32)    # red, green, blue, nir
    shadowed = sunlit * 0.25                     # the same surface under a quarter of the light
    roles = default_roles(4)
    names = feature_names(roles, illumination=True)
    a = pixel_features(sunlit, roles=roles, illumination=True)[0, 0]
    b = pixel_features(shadowed, roles=roles, illumination=True)[0, 0]
    assert names[:5] == ["band1_red_relative", "band2_green_relative", "band3_blue_relative",
                         "band4_nir_relative", "log_brightness"]
    np.testing.assert_allclose(a[:4], sunlit[0, 0] / 0.45, rtol=1e-6)    # bands / their mean
    np.testing.assert_allclose(a[:4], b[:4], rtol=1e-5)                  # ratios: unchanged
    assert a[4] - b[4] == pytest.approx(np.log(4.0), rel=1e-5)          # only the level moves
    np.testing.assert_allclose(a[5:], b[5:], rtol=1e-5)                  # NDWI, NDVI unchanged
    raw = pixel_features(sunlit, roles=roles)[0, 0]
    assert len(raw) == len(a) - 1 and not np.allclose(raw[:4], b[:4])    # the bands do change


def test_illumination_features_survive_dark_and_negative_pixels():
    image = np.array([[[0.0, 0.0, 0.0, 0.0], [-0.01, 0.0, 0.005, 0.0]]], np.float32)
    features = pixel_features(image, roles=default_roles(4), illumination=True)
    assert np.isfinite(features).all()
