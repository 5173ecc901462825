"""fluoseg.coded: training images held as codes decode to the same float32 bits."""

from __future__ import annotations

import numpy as np
import pytest

from fluoseg.coded import CodedImage, encode
from fluoseg.transforms import pad_to_at_least


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=np.float32).tobytes()


def test_eight_bit_image_is_coded_in_one_byte_and_decodes_exactly() -> None:
    gen = np.random.default_rng(0)
    image = (gen.integers(0, 256, (5, 7, 9, 2)) / 255).astype(np.float32)
    image[0, 0, 0, 0] = -0.0  # kept apart from 0.0: bit patterns, not values
    image[0, 0, 1, 0] = 0.0
    coded = encode(image)
    assert isinstance(coded, CodedImage) and coded.codes.dtype == np.uint8
    assert coded.shape == image.shape and coded.dtype == np.float32
    assert coded.codes.nbytes == image.nbytes // 4  # + 2 tables of <= 257 floats
    assert _bits(np.asarray(coded)) == _bits(image)
    assert np.signbit(coded[0:1, 0:1, 0:1][0, 0, 0, 0])
    for key in [(slice(1, 4), slice(2, 7), slice(0, 5)), (2,), (slice(None), 3)]:
        assert _bits(coded[key]) == _bits(image[key])


def test_more_values_take_two_bytes_and_too_many_none() -> None:
    gen = np.random.default_rng(1)
    many = gen.random((4, 30, 30, 2), dtype=np.float32)  # ~3600 distinct per channel
    coded = encode(many)
    assert isinstance(coded, CodedImage) and coded.codes.dtype == np.uint16
    assert _bits(np.asarray(coded)) == _bits(many)
    assert encode(many, limit=1000) is not coded
    assert isinstance(encode(many, limit=1000), np.ndarray)  # kept as it is
    assert _bits(encode(many, limit=1000)) == _bits(many)


@pytest.mark.parametrize("shape", [(3, 5, 4, 2), (8, 12, 12, 2)])
def test_padding_codes_pads_the_image(shape: tuple[int, ...]) -> None:
    gen = np.random.default_rng(2)
    image = gen.integers(0, 9, shape).astype(np.float32) / 8
    coded = encode(image)
    assert isinstance(coded, CodedImage)
    padded = coded.padded((4, 6, 6))
    want = pad_to_at_least(image, (4, 6, 6))
    assert padded.shape == want.shape and _bits(np.asarray(padded)) == _bits(want)
    if want is image:
        assert padded is coded  # nothing to pad, nothing copied


def test_sampler_batches_are_those_of_the_float32_images(
    tiny_volume: np.ndarray, tiny_mask: np.ndarray
) -> None:
    from fluoseg.data.pipeline import PatchSampler
    from fluoseg.data.validation import fixed_patches

    images = [np.round(tiny_volume * 50) / 50, np.round(tiny_volume[::-1] * 7) / 7]
    images = [im.astype(np.float32) for im in images]
    coded = [encode(im) for im in images]
    assert all(isinstance(c, CodedImage) for c in coded)
    masks = [tiny_mask[..., :2], tiny_mask[::-1, :, :, :2].copy()]
    for kw in ({"augment": True}, {"grid": True}, {"unpaired_masks": masks}):
        a = PatchSampler(coded, masks, (4, 6, 6), 0.7, 5, **kw)
        b = PatchSampler(images, masks, (4, 6, 6), 0.7, 5, **kw)
        for step in range(5):
            for x, y in zip(a.batch(step, 3), b.batch(step, 3), strict=True):
                assert x.dtype == y.dtype and x.tobytes() == y.tobytes()
    for x, y in zip(
        fixed_patches(coded, masks, (4, 6, 6), 4, 0.5, 3),
        fixed_patches(images, masks, (4, 6, 6), 4, 0.5, 3),
        strict=True,
    ):
        assert x.tobytes() == y.tobytes()
