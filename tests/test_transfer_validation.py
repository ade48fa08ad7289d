"""transfer_weights is all-or-nothing (issue 18, item 12): every pair is checked
before anything is copied, and a value that the copy would change is refused."""

from __future__ import annotations

import math

import pytest
import torch

import cnndsl
from cnndsl.transfer import TransferError

# conv weight, bias; bn weight, bias, running mean, running var, batch counter;
# linear weight, bias: nine entries, the counter an integer buffer.
SPEC = "network t\ninput [2, 4, 4]\nconv(3, k=1) bn relu flatten linear(2)"
NAMES = ["conv_1.weight", "conv_1.bias", "batchnorm_1.weight", "batchnorm_1.bias",
         "batchnorm_1.running_mean", "batchnorm_1.running_var",
         "batchnorm_1.num_batches_tracked", "linear_1.weight", "linear_1.bias"]


def _pair():
    """A fresh destination module and a source state_dict that fits it, every value new."""
    dst = cnndsl.loads(SPEC).to_module()
    torch.manual_seed(0)
    src = {k: (torch.full_like(v, 7) if v.dtype == torch.long else torch.randn_like(v) + 5)
           for k, v in dst.state_dict().items()}
    return src, dst


def _refused(src, dst, match, **options):
    """Transfer must fail with ``match`` and leave every entry of ``dst`` as it was."""
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    with pytest.raises(TransferError, match=match):
        cnndsl.transfer_weights(src, dst, **options)
    after = dst.state_dict()
    assert list(after) == list(before)
    for k, v in before.items():
        assert torch.equal(after[k], v), f"{k} was changed by a refused transfer"


def test_the_module_has_the_entries_these_tests_name():
    src, dst = _pair()
    assert list(dst.state_dict()) == NAMES
    cnndsl.transfer_weights(src, dst)  # the untouched pair transfers
    assert all(torch.equal(dst.state_dict()[k], v) for k, v in src.items())


def test_a_numpy_array_is_refused_before_any_copy():
    src, dst = _pair()
    src[NAMES[3]] = src[NAMES[3]].numpy()
    _refused(src, dst, r"^entry 3: source entry 'batchnorm_1.bias' is a numpy.ndarray, "
                       r"not a torch.Tensor$")


def test_a_list_is_a_transfer_error_not_an_attribute_error():
    src, dst = _pair()
    src[NAMES[1]] = src[NAMES[1]].tolist()
    _refused(src, dst, r"^entry 1: source entry 'conv_1.bias' is a builtins.list, not a torch")


def test_a_meta_tensor_in_last_place_copies_nothing():
    src, dst = _pair()
    src[NAMES[8]] = torch.empty(2, device="meta")
    _refused(src, dst, "^entry 8: source entry 'linear_1.bias' is on the meta device")


def test_a_meta_destination_is_refused():
    src, _ = _pair()
    dst = cnndsl.loads(SPEC).to_module().to("meta")
    with pytest.raises(TransferError, match="^entry 0: destination parameter 'conv_1.weight'.* "
                                            "is on the meta device"):
        cnndsl.transfer_weights(src, dst)


def test_complex_weights_do_not_lose_their_imaginary_part():
    src, dst = _pair()
    src[NAMES[7]] = torch.complex(src[NAMES[7]], torch.ones_like(src[NAMES[7]]))
    _refused(src, dst, "^entry 7: source entry 'linear_1.weight' is torch.complex64: its "
                       "imaginary part would be lost in torch.float32, for destination parameter "
                       "'linear_1.weight'")


def test_a_fraction_is_not_truncated_into_the_batch_counter():
    src, dst = _pair()
    src[NAMES[6]] = torch.tensor(3.9)
    _refused(src, dst, "^entry 6: source entry 'batchnorm_1.num_batches_tracked' is torch.float32 "
                       "with values that torch.int64 cannot hold exactly")


def test_a_whole_number_in_a_float_fills_the_batch_counter():
    src, dst = _pair()
    src[NAMES[6]] = torch.tensor(3.0)
    cnndsl.transfer_weights(src, dst)
    assert dst.batchnorm_1.num_batches_tracked.item() == 3


def test_an_integer_out_of_range_does_not_wrap():
    src = {"counter": torch.tensor([300])}
    dst = torch.nn.Module()
    dst.register_buffer("counter", torch.tensor([1], dtype=torch.int8))
    _refused(src, dst, "torch.int64 with values that torch.int8 cannot hold exactly")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nonfinite_values_are_refused_unless_allowed(bad):
    src, dst = _pair()
    src[NAMES[4]][1] = bad
    _refused(src, dst, "^entry 4: source entry 'batchnorm_1.running_mean' holds NaN or infinite "
                       r"values \(allow them with allow_nonfinite=True\)")
    cnndsl.transfer_weights(src, dst, allow_nonfinite=True)
    assert torch.allclose(dst.batchnorm_1.running_mean, src[NAMES[4]], equal_nan=True)


def test_float64_weights_still_round_into_float32():
    """Loading a float64 checkpoint into a float32 module is rounding, not a changed value."""
    src, dst = _pair()
    src = {k: v.double() if v.is_floating_point() else v for k, v in src.items()}
    cnndsl.transfer_weights(src, dst)
    assert torch.equal(dst.linear_1.weight, src[NAMES[7]].float())


def test_a_module_source_with_a_bad_entry_is_checked_too():
    """Every check applies to a module source as to a state_dict."""
    _, dst = _pair()
    src = cnndsl.loads(SPEC).to_module()
    with torch.no_grad():
        src.conv_1.weight.fill_(float("nan"))
    _refused(src, dst, "^entry 0: source parameter 'conv_1.weight' holds NaN")


def test_not_strict_still_copies_nothing_when_a_value_is_refused():
    """strict=False forgives entries that pair with nothing, never a value the copy would change."""
    src, dst = _pair()
    src[NAMES[8]] = torch.empty(2, device="meta")  # last, after every good entry
    src["extra.weight"] = torch.ones(3)  # pairs with nothing: fine without strict
    _refused(src, dst, "^entry 8: source entry 'linear_1.bias' is on the meta device", strict=False)
    src[NAMES[8]] = torch.zeros(2)
    report = cnndsl.transfer_weights(src, dst, strict=False)
    assert report.unpaired_source == ("extra.weight",) and not report.unpaired_destination
    assert all(torch.equal(dst.state_dict()[k], src[k]) for k in NAMES)
