"""Round trips, bounds, error feedback, difference coding, nncodec errors, params and ratio."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from fedwireless.codecs import (
    CODECS,
    DifferenceCoder,
    ErrorFeedback,
    make_codec,
    nnc_step_size,
    paper_compression_ratio,
    paper_compression_ratio_rounds,
    validate_codec_params,
)

FP16_REL_EPS = 2.0**-11  # half of float16's machine epsilon (round to nearest)
INT8_SLACK = 1e-6  # relative float32 rounding slack on top of the step/2 bound
NNC_SCALAR_BOUND_STEPS = 0.5  # uniform scalar quantizer: |err| <= step/2
NNC_DQ_BOUND_STEPS = 2.0  # dependent quantization: two quantizers of step 2*delta, trellis choice


def _update(seed: int = 0, scale: float = 1e-2) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "layers.0.wq.weight": torch.randn(64, 48, generator=g) * scale,
        "layers.0.w1.weight": torch.randn(96, 64, generator=g) * scale,
        "norm.weight": torch.randn(64, generator=g) * scale,
        "scalar": torch.tensor(0.25),
        "empty": torch.zeros(0, 4),
        "steps": torch.arange(7, dtype=torch.int64) - 3,
        "mask": torch.tensor([True, False, True]),
    }


@pytest.mark.parametrize("name", CODECS)
def test_round_trip_names_shapes_dtypes_and_determinism(name):
    u = _update()
    codec = make_codec(name)
    payload = codec.encode(u)
    assert isinstance(payload, bytes) and payload[:4] == b"FWU1"
    assert payload == make_codec(name).encode(u)  # deterministic, fresh instance too
    d = codec.decode(payload)
    assert list(d) == list(u)
    for k in u:
        assert d[k].shape == u[k].shape
        if u[k].is_floating_point():
            assert d[k].dtype == torch.float32
        else:
            assert d[k].dtype == u[k].dtype and torch.equal(d[k], u[k])


def test_none_is_bitwise_lossless_including_nan():
    u = _update()
    u["odd"] = torch.tensor([float("nan"), float("inf"), -0.0, 1e-45])
    d = make_codec("none").decode(make_codec("none").encode(u))
    for k in u:
        if u[k].is_floating_point():
            assert d[k].numpy().tobytes() == u[k].numpy().tobytes()


def test_fp16_within_half_precision_eps():
    u = _update(scale=1.0)
    d = make_codec("fp16").decode(make_codec("fp16").encode(u))
    for k, x in u.items():
        if x.is_floating_point() and x.numel():
            err = (d[k] - x).abs()
            assert bool((err <= x.abs() * FP16_REL_EPS + 2.0**-25).all()), k
    with pytest.raises(ValueError, match="float16 range"):
        make_codec("fp16").encode({"w": torch.tensor([1e6])})


def test_int8_within_half_step():
    from fedwireless.codecs.simple import Int8Codec

    u = _update(scale=3.0)
    d = make_codec("int8").decode(make_codec("int8").encode(u))
    for k, x in u.items():
        if x.is_floating_point() and x.numel():
            step = float(Int8Codec.step(x.reshape(-1).numpy()))
            assert float((d[k] - x).abs().max()) <= step / 2 * (1 + INT8_SLACK) + 1e-12, k
            assert float(d[k].abs().max()) == pytest.approx(float(x.abs().max()), rel=1e-6)


@pytest.mark.parametrize("scope", ["tensor", "global"])
def test_topk_keeps_exactly_the_top_entries(scope):
    u = _update(seed=3)
    u["ties"] = torch.tensor([1.0, -1.0, 1.0, 0.5] * 10)
    ratio = 0.05
    d = make_codec("topk", {"ratio": ratio, "scope": scope}).decode(
        make_codec("topk", {"ratio": ratio, "scope": scope}).encode(u)
    )
    names = [k for k in u if u[k].is_floating_point()]
    # slow reference: stable descending sort by magnitude, first k (ties -> lowest index)
    if scope == "tensor":
        for k in names:
            x = u[k].reshape(-1).numpy()
            keep = np.argsort(-np.abs(x), kind="stable")[: math.ceil(ratio * x.size)]
            ref = np.zeros_like(x)
            ref[keep] = x[keep]
            assert np.array_equal(d[k].reshape(-1).numpy(), ref), k
    else:
        flat = np.concatenate([u[k].reshape(-1).numpy() for k in names])
        keep = np.argsort(-np.abs(flat), kind="stable")[: math.ceil(ratio * flat.size)]
        ref = np.zeros_like(flat)
        ref[keep] = flat[keep]
        got = np.concatenate([d[k].reshape(-1).numpy() for k in names])
        assert np.array_equal(got, ref)


def test_nnc_step_formula_matches_nncodec():
    from nncodec.nnc_core.common import get_stepsize_from_qp

    for qp in range(-80, 30):
        assert nnc_step_size(qp) == get_stepsize_from_qp(np.int32(qp), 2)
    assert nnc_step_size(-38) == 6 * 2.0**-12


@pytest.mark.parametrize(("use_dq", "bound"), [(False, NNC_SCALAR_BOUND_STEPS), (True, NNC_DQ_BOUND_STEPS)])
@pytest.mark.parametrize("qp", [-38, -26])
def test_nncodec_error_within_quantization_step(qp, use_dq, bound):
    u = _update(seed=1)
    codec = make_codec("nncodec", {"qp": qp, "use_dq": use_dq})
    d = codec.decode(codec.encode(u))
    for k, x in u.items():
        if x.is_floating_point() and x.numel():
            step = codec.step_size(k)
            expected_qp = qp if x.dim() >= 2 else -75
            assert codec.last_qp[k] == expected_qp
            assert float((d[k] - x).abs().max()) <= bound * step * (1 + 1e-6), (k, step)


def test_nncodec_sparsity():
    u = {"w": torch.randn(40, 50, generator=torch.Generator().manual_seed(2)) * 0.1}
    d = make_codec("nncodec", {"unstructured_sparsity": 0.7}).decode(
        make_codec("nncodec", {"unstructured_sparsity": 0.7}).encode(u)
    )
    assert int((d["w"] == 0).sum()) >= 1400  # floor(0.7 * 2000) smallest zeroed
    c = make_codec("nncodec", {"structured_sparsity": 0.25})
    d = c.decode(c.encode(u))
    zero_rows = int((d["w"].abs().sum(dim=1) == 0).sum())
    norms = u["w"].norm(dim=1)
    assert zero_rows == 10
    assert set(torch.nonzero(d["w"].abs().sum(dim=1) == 0).reshape(-1).tolist()) == set(
        torch.argsort(norms)[:10].tolist()
    )


def test_nncodec_structured_gain_prunes_rows_below_the_mean_as_nncodec_fl_does():
    """Rows of constant magnitude m_i: mean |w| per row is m_i, their mean 1.0; gain 0.9 zeroes the rows below
    0.9 (five of ten: 0.1, 0.2, 0.5, 0.6, 0.8), the others pass through the codec intact to within half a step."""
    mags = [1.5, 0.1, 2.0, 0.2, 0.5, 1.1, 0.6, 1.6, 0.8, 1.6]
    assert sum(mags) / len(mags) == pytest.approx(1.0)
    signs = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, 1.0])
    u = {"w": torch.tensor(mags).reshape(-1, 1) * signs * 0.01, "bias": torch.full((10,), 1e-3)}
    c = make_codec("nncodec", {"structured_gain": 0.9, "qp": -38})
    d = c.decode(c.encode(u))
    zero = torch.nonzero(d["w"].abs().sum(dim=1) == 0).reshape(-1).tolist()
    assert zero == [1, 3, 4, 6, 8]
    kept = [i for i in range(10) if i not in zero]
    assert torch.allclose(d["w"][kept], u["w"][kept], atol=nnc_step_size(-38) / 2 + 1e-9)
    assert torch.allclose(d["bias"], u["bias"], atol=1e-5)  # 1-D tensors are never pruned
    # The row means are taken after unstructured sparsity, as nncodec.fl.encode orders it: 40 % of the 60
    # entries zeroed empties rows 1, 3, 4, 6 (24 entries); the means are then 1.5, 2.0, 1.1, 1.6, 0.8, 1.6 and
    # four zeros (mean 0.86), so gain 1.2 prunes below 1.032: row 8 and the empty rows, not row 5 (1.1), which
    # the means before sparsification (threshold 1.2) would have pruned.
    both = make_codec("nncodec", {"structured_gain": 1.2, "unstructured_sparsity": 0.4})
    d = both.decode(both.encode(u))
    assert torch.nonzero(d["w"].abs().sum(dim=1) > 0).reshape(-1).tolist() == [0, 2, 5, 7, 9]


def test_sizes_shrink_in_expected_order():
    u = {f"w{i}": torch.randn(128, 64, generator=torch.Generator().manual_seed(i)) * 1e-2 for i in range(4)}
    size = {
        n: len(make_codec(n, p).encode(u))
        for n, p in [
            ("none", {}),
            ("fp16", {}),
            ("int8", {}),
            ("nncodec", {"qp": -38}),
            ("topk", {"ratio": 0.01}),
        ]
    }
    n_params = 4 * 128 * 64
    assert size["none"] > size["fp16"] > size["int8"] > size["nncodec"] > size["topk"]
    assert size["none"] == pytest.approx(4 * n_params, rel=0.01)
    assert size["fp16"] == pytest.approx(2 * n_params, rel=0.02)


def test_error_feedback_sum_identity_topk():
    rng = np.random.default_rng(5)
    ef = ErrorFeedback(make_codec("topk", {"ratio": 0.01}))
    true_sum = torch.zeros(50, 40, dtype=torch.float64)
    dec_sum = torch.zeros(50, 40, dtype=torch.float64)
    norms = []
    for _ in range(50):
        u = {"w": torch.from_numpy(rng.standard_normal((50, 40)).astype(np.float32))}
        payload, decoded = ef.encode(u)
        assert isinstance(payload, bytes)
        true_sum += u["w"].double()
        dec_sum += decoded["w"].double()
        norms.append(float(ef.residual["w"].norm()))
    gap = true_sum - dec_sum
    # sum(decoded) = sum(true) - residual: exact up to float32 rounding of the running residual
    assert torch.allclose(gap, ef.residual["w"].double(), atol=1e-4)
    # residual stays bounded: no growth over the last half (a topk EF residual saturates)
    assert max(norms[25:]) < 1.5 * max(norms[:25])


def test_error_feedback_shape_change_restarts_residual():
    ef = ErrorFeedback(make_codec("topk", {"ratio": 0.1}))
    ef.encode({"a": torch.ones(4, 8)})
    _, d = ef.encode({"a": torch.ones(8, 8)})  # rank switch: old residual cannot be added
    assert ef.residual["a"].shape == (8, 8)


@pytest.mark.parametrize("name", ["none", "int8", "nncodec"])
def test_difference_coder_round_trip_over_sequence(name):
    g = torch.Generator().manual_seed(9)
    sender, receiver = DifferenceCoder(make_codec(name)), DifferenceCoder(make_codec(name))
    base = torch.randn(32, 16, generator=g) * 0.05
    for t in range(6):
        u = {"w": base + 0.001 * t * torch.randn(32, 16, generator=g), "n": torch.arange(3)}
        payload, sent = sender.encode_and_reconstruct(u)
        got = receiver.decode(payload)
        assert torch.equal(got["w"], sent["w"])  # closed loop: no drift between the two ends
        if name == "none":  # (u - ref) + ref: exact up to float32 rounding
            assert torch.allclose(got["w"], u["w"], rtol=0, atol=1e-7)
        else:
            assert float((got["w"] - u["w"]).abs().max()) < 1e-3
        assert torch.equal(got["n"], u["n"])
    with pytest.raises(RuntimeError, match="separate instance"):
        sender.decode(payload)


def test_ef_over_difference_coder_composes():
    g = torch.Generator().manual_seed(4)
    sender = ErrorFeedback(DifferenceCoder(make_codec("topk", {"ratio": 0.2})))
    receiver = DifferenceCoder(make_codec("topk", {"ratio": 0.2}))
    for _ in range(5):
        payload, sent = sender.encode({"w": torch.randn(10, 10, generator=g)})
        assert torch.equal(receiver.decode(payload)["w"], sent["w"])


def test_nncodec_bad_input_is_clear_error_not_systemexit():
    c = make_codec("nncodec")
    with pytest.raises(ValueError, match="NaN or inf"):
        c.encode({"w": torch.tensor([[float("nan"), 1.0]])})
    with pytest.raises(ValueError, match="not a decodable NNC bitstream"):
        good = bytearray(c.encode({"w": torch.ones(4, 4)}))
        good[-12:] = b"\x00" * 12
        header_end = len(good) - 12
        c.decode(bytes(good[:header_end]) + b"garbage-bits")
    with pytest.raises(ValueError, match="encoded by codec 'fp16'"):
        c.decode(make_codec("fp16").encode({"w": torch.ones(2)}))
    with pytest.raises(ValueError, match="not a fedwireless update"):
        c.decode(b"hello world")
    with pytest.raises(ValueError, match="dtype"):
        c.encode({"w": torch.ones(2, dtype=torch.complex64)})


def test_nncodec_qp_overflow_is_warned():
    c = make_codec("nncodec", {"qp": -64})
    with pytest.warns(UserWarning, match="raised qp"):
        d = c.decode(c.encode({"w": torch.full((4, 4), 1e6)}))
    assert c.last_qp["w"] > -64
    assert float((d["w"] - 1e6).abs().max()) <= c.step_size("w") / 2


def test_validate_codec_params_messages():
    validate_codec_params("nncodec", {"qp": -30, "use_dq": True})
    with pytest.raises(ValueError, match=r"qp: must be an integer in \[-64, 64\], got 3.5"):
        validate_codec_params("nncodec", {"qp": 3.5})
    with pytest.raises(ValueError, match="ratio: must be a number in \\(0, 1\\], got 0"):
        validate_codec_params("topk", {"ratio": 0})
    with pytest.raises(ValueError, match="known codecs: none, fp16, int8, topk, nncodec"):
        make_codec("zip")
    with pytest.raises(ValueError, match="known parameters"):
        validate_codec_params("int8", {"bits": 4})
    with pytest.raises(ValueError, match="use_dq: must be a boolean"):
        validate_codec_params("nncodec", {"use_dq": 1})


def test_paper_compression_ratio():
    # 5 clients x 1000 B up + 5 x 2000 B down over 2*5*4*10_000 B
    assert paper_compression_ratio(5000, 2000, 5, 10_000) == pytest.approx(15000 / 400_000)
    assert paper_compression_ratio(8 * 4 * 100, 4 * 100, 8, 100) == pytest.approx(1.0)  # float32 both ways
    assert paper_compression_ratio_rounds([5000, 0], [2000, 0], 5, 10_000) == pytest.approx(15000 / 800_000)
    with pytest.raises(ValueError, match="num_clients"):
        paper_compression_ratio(1, 1, 0, 10)


def test_light_import_without_torch_torchvision_or_nncodec():
    code = (
        "import sys; from fedwireless.codecs import validate_codec_params, CODECS; "
        "validate_codec_params('nncodec', {'qp': -20}); "
        "bad = [m for m in ('torch', 'torchvision', 'nncodec') if m in sys.modules]; "
        "assert not bad, bad; "
        "from fedwireless.codecs import make_codec; import torch; "
        "c = make_codec('nncodec'); c.decode(c.encode({'w': torch.ones(3, 3)})); "
        "assert 'torchvision' not in sys.modules and 'nncodec.framework' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_nncodec_temporal_context_round_trips_in_order_and_shrinks_correlated_updates():
    # Successive correlated updates (as consecutive rounds of one client): with TCA every payload after the
    # first is smaller than without, each decodes within half a step by the receiver that saw the earlier ones,
    # and a receiver that missed them cannot reproduce the update (the state is real).
    rng = np.random.default_rng(3)
    tca = make_codec("nncodec", {"qp": -26, "temporal_context": True})
    rx = make_codec("nncodec", {"qp": -26, "temporal_context": True})
    plain = make_codec("nncodec", {"qp": -26})
    assert tca.stateful and not plain.stateful
    step = nnc_step_size(-26)
    w = torch.from_numpy(rng.standard_normal((96, 64)).astype(np.float32)) * 0.02
    payloads = []
    for r in range(4):
        w = 0.8 * w + 0.2 * torch.from_numpy(rng.standard_normal((96, 64)).astype(np.float32)) * 0.02
        u = {"w": w.clone(), "b": torch.zeros(64)}
        p = tca.encode(u)
        payloads.append(p)
        assert (rx.decode(p)["w"] - u["w"]).abs().max() <= step / 2 + 1e-7
        if r:
            assert len(p) < 0.9 * len(plain.encode(u))
    late = make_codec("nncodec", {"qp": -26, "temporal_context": True})
    try:
        reproduced = bool((late.decode(payloads[-1])["w"] - w).abs().max() <= step / 2)
    except ValueError:
        reproduced = False
    assert not reproduced


def test_nncodec_temporal_context_survives_a_rank_change():
    # A sender whose LoRA rank changes between rounds: the changed tensor starts without reference, the
    # others keep theirs, and every update still decodes within half a step.
    rng = np.random.default_rng(4)
    tx = make_codec("nncodec", {"qp": -30, "temporal_context": True})
    rx = make_codec("nncodec", {"qp": -30, "temporal_context": True})
    step = nnc_step_size(-30)
    for rank in (4, 8, 8, 2, 4):
        u = {
            "a": torch.from_numpy(rng.standard_normal((rank, 32)).astype(np.float32)) * 0.05,
            "head": torch.from_numpy(rng.standard_normal((2, 32)).astype(np.float32)) * 0.05,
        }
        got = rx.decode(tx.encode(u))
        for k in u:
            assert got[k].shape == u[k].shape and (got[k] - u[k]).abs().max() <= step / 2 + 1e-7, (rank, k)
