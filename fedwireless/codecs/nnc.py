"""ISO/IEC 15938-17 Neural Network Coding (NNC) of updates through NNCodec 2.1.3's DeepCABAC core.

`nncodec.nnc` imports `nncodec.framework`, which needs torchvision (not importable here). For a dict of
numpy arrays, `nncodec.nnc.compress`/`decompress` only use `nncodec.nnc_core` (NNRModel, approximator,
coder) and the compiled `nncodec.extensions.deepCABAC`; this module makes the same calls directly, with
the arguments `nnc.compress` passes for a numpy-dict model (uniform quantization, no codebook,
no IOQ/LSA/BNF, general_profile_idc 1, no parent node signalling), or, with `temporal_context: true`, NNC's
temporal context adaptation (TCA): each tensor's NDU names its parent (incremental coding, ICNN NDU ids)
and DeepCABAC's contexts are conditioned on the same tensor's quantized levels in this sender's previous
update; encoder and decoder each keep that reference (`approx_param_base`, updated after every coded
update; a tensor whose shape changed, e.g. a new LoRA rank, starts without reference). The codec is then
stateful: one instance per sender, and every payload must be decoded in order by the receiver's instance
(the learner decodes each upload right after it is made, so a dropped upload is assumed recovered, as with
`difference_coding`). Broadcasts and payload planning use the same settings without temporal context.

Quantization (ISO/IEC 15938-17, uniform reconstruction, qp_density 2):
    step_size = (4 + (qp mod 4)) * 2**(floor(qp / 4) - 2)
so qp -38 -> 1.46e-3, -30 -> 5.86e-3, -26 -> 1.17e-2, -20 -> 3.13e-2, -18 -> 4.69e-2. Tensors with >= 2
dimensions use `qp`; 1-D/0-D tensors (norm gains, biases) use `nonweight_qp` (NNCodec's default -75 ->
2.4e-6), as NNCodec does.
Without dependent quantization (`use_dq: false`, the default, as in NNCodec's FL example) every entry is
reconstructed within step/2. With `use_dq: true` (trellis-coded quantization, two interleaved quantizers
of step 2*delta) the bitstream is ~20-30 % smaller at the same qp and the error stays below 2 steps
(measured max ~1.7). NNCodec raises qp by itself when max|x|/step would overflow int32 levels; then the
effective step is larger: a `UserWarning` says so and `last_qp` holds the qp actually used.

Sparsification before coding (tensors with >= 2 dimensions only; both masks are applied together):
`unstructured_sparsity` s zeroes the floor(s*n) entries of smallest magnitude; `structured_sparsity` s
zeroes the floor(s*rows) rows (dim-0 slices: output features/filters) of smallest L2 norm. NNC row
skipping signals all-zero rows in one flag each. Ties go to the lowest index. `structured_gain` g > 0 then
zeroes rows as NNCodec's federated-learning code does (`nncodec.fl.encode`, `struct_spars_factor` 0.9 there,
applied after the unstructured step): per tensor, the share of rows whose mean |w| is below g × the mean of
the rows' means, that many rows of smallest mean |w|.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from typing import Any

import numpy as np

from fedwireless.codecs.base import BaseCodec
from fedwireless.codecs.container import Entry
from fedwireless.codecs.simple import topk_indices

QP_DENSITY = 2  # NNC's qp_density: 2**2 = 4 qp values per octave of step size (the REFERENCE formula).


def nnc_step_size(qp: int) -> float:
    """NNC quantization step for `qp` at qp_density 2: (4 + (qp mod 4)) * 2**(floor(qp/4) - 2).

    Source: ISO/IEC 15938-17 uniform quantizer, as NNCodec's `get_stepsize_from_qp` computes it.
    Python's `%` and `//` are the mathematical mod and floor for negative qp.
    """
    qp = int(qp)
    return (4 + (qp % 4)) * 2.0 ** (qp // 4 - 2)


def sparsify(x: np.ndarray, unstructured: float, structured: float) -> np.ndarray:
    """Copy of `x` (shape kept) with the smallest-magnitude entries and smallest-norm rows zeroed.

    Only arrays with >= 2 dimensions are touched; see the module docstring for the counts.
    """
    if x.ndim < 2 or x.size == 0 or (unstructured <= 0 and structured <= 0):
        return x
    keep = np.ones(x.size, dtype=bool)
    if unstructured > 0:
        n_zero = math.floor(unstructured * x.size)
        kept = topk_indices(np.abs(x).reshape(-1), x.size - n_zero)
        keep[:] = False
        keep[kept] = True
    if structured > 0:
        rows = x.shape[0]
        norms = np.sqrt(np.square(x.reshape(rows, -1).astype(np.float64)).sum(axis=1))
        kept_rows = topk_indices(norms, rows - math.floor(structured * rows))
        row_mask = np.zeros(rows, dtype=bool)
        row_mask[kept_rows] = True
        keep &= np.repeat(row_mask, x.size // rows)
    return np.where(keep.reshape(x.shape), x, np.float32(0)).astype(np.float32)


def rows_below_mean(x: np.ndarray, gain: float) -> np.ndarray:
    """Copy of `x` with the rows zeroed that NNCodec's FL code prunes at `gain` (see the module docstring);
    `x` unchanged below 2 dimensions or when all zero."""
    if x.ndim < 2 or gain <= 0 or not x.any():
        return x
    rows = x.shape[0]
    means = np.abs(x.reshape(rows, -1).astype(np.float64)).mean(axis=1)
    # NNCodec counts a share, then takes int(share × rows) of the smallest rows.
    count = int(np.count_nonzero(means < means.mean() * gain) / rows * rows)
    pruned = np.argsort(means, kind="stable")[:count]
    out = x.copy()
    out[pruned] = 0
    return out


def _empty_base() -> dict[str, Any]:
    """A TCA reference with nothing coded yet (NNCodec's FL client starts from the same)."""
    return {"parameters": {}, "put_node_depth": {}, "device_id": 0, "parameter_id": {}}


def _enc_info(row_skipping: bool, temporal_context: bool = False) -> dict[str, Any]:
    # What nnc.compress builds for general_profile_idc 1 without compress_differences/pre_signalling/tca,
    # or with tca (which needs parent-node signalling, as nnc.compress sets for compress_differences).
    if temporal_context:
        from nncodec.nnc_core import hls

        return {
            **_enc_info(row_skipping),
            "mps_parent_signalling_enabled_flag": 1,
            "parent_node_id_present_flag": 1,
            "parent_node_id_type": hls.ParentNodeIdType.ICNN_NDU_ID,
            "parent_device_id": 0,
            "temporal_context_modeling_flag": 1,
        }
    return {
        "cabac_unary_length_minus1": 10,
        "param_opt_flag": True,
        "partial_data_counter": 0,
        "general_profile_idc": 1,
        "node_id_present_flag": 1,
        "device_id": 0,
        "mps_parent_signalling_enabled_flag": 0,
        "parent_node_id_present_flag": 0,
        "temporal_context_modeling_flag": 0,
        "row_skip_enabled_flag": 1 if row_skipping else 0,
        "pre_signalling": 0,
    }


def _empty_dec_model_info() -> dict[str, Any]:
    # Copied from nnc.decompress: the decoder fills it from the bitstream.
    flags = (
        "mps_sparsification_flag",
        "lps_sparsification_flag",
        "mps_pruning_flag",
        "lps_pruning_flag",
        "mps_unification_flag",
        "lps_unification_flag",
        "mps_decomposition_performance_map_flag",
        "lps_decomposition_performance_map_flag",
    )
    return {
        "parameter_type": {},
        "parameter_dimensions": {},
        "parameter_index": {},
        "block_identifier": {},
        "topology_storage_format": None,
        "topology_compression_format": None,
        "performance_maps": {"mps": {}, "lps": {}},
        "performance_map_flags": {f: {} for f in flags},
    }


def nnc_compress(
    arrays: dict[str, np.ndarray],
    qp: int,
    nonweight_qp: int,
    use_dq: bool,
    row_skipping: bool = True,
    base: dict[str, Any] | None = None,
) -> tuple[bytes, dict[str, int], str]:
    """NNC bitstream of a dict of float32 arrays; also the qp used per array and NNCodec's printed text.

    Same steps as `nncodec.nnc.compress(arrays, qp=..., nonweight_qp=..., use_dq=..., row_skipping=...)`;
    with a TCA reference `base` (updated in place) the contexts use the previous update's levels.
    """
    from nncodec.nnc_core import approximator, coder, nnr_model

    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        model = nnr_model.NNRModel(arrays)
        approx_data = approximator.init_approx_data(arrays, model.model_info, qp_density=QP_DENSITY, scan_order=0)
        approx_info = approximator.ApproxInfo(
            approx_data,
            model.model_info,
            "uniform",
            0,  # codebook_mode
            qp,
            False,  # opt_qp
            not use_dq,  # disable_dq
            10,  # cabac_unary_length_minus1
            0,  # lambda_scale
            nonweight_qp=nonweight_qp,
        ).approx_info
        enc_info = _enc_info(row_skipping, temporal_context=base is not None)
        approx_enc = approximator.approx(approx_info, model.model_info, approx_data, enc_info)
        bitstream, _ = coder.encode(
            enc_info=enc_info,
            model_info=model.model_info,
            approx_data=approx_enc,
            approx_param_base=base,
            update_base_param=base is not None,
            tool_if=None,
        )
    used_qp = {k: int(v) for k, v in approx_enc["qp"].items()}
    return bytes(bitstream), used_qp, captured.getvalue()


def nnc_decompress(bitstream: bytes, base: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Arrays of an NNC bitstream; the same steps as `nncodec.nnc.decompress` for a raw-topology model
    (with the receiver's TCA reference `base`, updated in place, for temporal-context bitstreams)."""
    from nncodec.nnc_core import approximator, coder

    with contextlib.redirect_stdout(io.StringIO()):
        dec_model_info = _empty_dec_model_info()
        dec = coder.decode(
            bytearray(bitstream),
            dec_model_info,
            hls_stats={},
            oob_dict={},
            approx_param_base=base,
            update_base_param=base is not None,
            return_hls=False,
            tool_if=None,
        )
        approximator.rec(dec)
        dec = approximator.recompose_params(dec_model_info, dec)
    return dec["parameters"]


class NNCodecCodec(BaseCodec):
    """NNC (DeepCABAC) coding of the float tensors of an update; see the module docstring.

    Tensors go to NNCodec under short keys ("0", "1", ...: their position among the non-empty float
    tensors) so names are stored once, in the container header. 0-D tensors are coded as shape (1,).
    """

    name = "nncodec"
    lossless = False

    def __init__(self, params=None) -> None:
        super().__init__(params)
        #: qp actually used per tensor name in the last encode (NNCodec may raise it to avoid overflow).
        self.last_qp: dict[str, int] = {}
        self.stateful = bool(self.params["temporal_context"])
        self._enc_base = _empty_base() if self.stateful else None  # sender's TCA reference
        self._dec_base = _empty_base() if self.stateful else None  # receiver's
        self._enc_shapes: dict[str, tuple[int, ...]] = {}
        self._dec_shapes: dict[str, tuple[int, ...]] = {}

    @staticmethod
    def _forget_reshaped(base: dict[str, Any], shapes: dict[str, tuple[int, ...]], now: dict[str, tuple]) -> None:
        """Drop the reference of every tensor whose shape changed (a new LoRA rank): DeepCABAC reads the
        reference by position without a shape check, so a stale one must never be used."""
        for key, shape in now.items():
            if shapes.get(key) != shape:
                for part in ("parameters", "put_node_depth", "parameter_id"):
                    base[part].pop(key, None)
            shapes[key] = shape

    def step_size(self, tensor_name: str) -> float:
        """Quantization step actually used for `tensor_name` in the last encode."""
        return nnc_step_size(self.last_qp[tensor_name])

    def _encode_floats(self, entries: list[Entry], floats: list[np.ndarray]):
        p = self.params
        arrays: dict[str, np.ndarray] = {}
        names: dict[str, str] = {}
        for e, x in zip(entries, floats):
            if x.size == 0:
                continue
            shaped = x.reshape(e.shape if len(e.shape) else (1,))
            shaped = sparsify(shaped, p["unstructured_sparsity"], p["structured_sparsity"])
            shaped = rows_below_mean(shaped, p["structured_gain"])
            key = str(len(arrays))
            arrays[key] = np.ascontiguousarray(shaped, dtype=np.float32)
            names[key] = e.name
        self.last_qp = {}
        if not arrays:
            return b"", {}
        if self.stateful:
            self._forget_reshaped(self._enc_base, self._enc_shapes, {k: a.shape for k, a in arrays.items()})
        depth_before = dict(self._enc_base["put_node_depth"]) if self.stateful else {}
        try:
            bitstream, used_qp, printed = nnc_compress(
                arrays, p["qp"], p["nonweight_qp"], p["use_dq"], base=self._enc_base
            )
        except (SystemExit, AssertionError, Exception) as exc:  # NNCodec signals bad input with SystemExit
            raise RuntimeError(f"nncodec could not encode the update ({type(exc).__name__}: {exc})") from exc
        self.last_qp = {names[k]: q for k, q in used_qp.items()}
        for key, q in used_qp.items():
            asked = p["qp"] if arrays[key].ndim >= 2 else p["nonweight_qp"]
            if q != asked:
                warnings.warn(
                    f"nncodec raised qp of tensor {names[key]!r} from {asked} to {q} (step "
                    f"{nnc_step_size(asked):.3g} -> {nnc_step_size(q):.3g}) to keep levels within int32",
                    stacklevel=3,
                )
        del printed  # its only content is the clipping notice, reported above as a warning
        if self.stateful:  # incremental coding emits no unit for a tensor whose levels are all zero
            depth = self._enc_base["put_node_depth"]
            omitted = [k for k in arrays if depth.get(k) == depth_before.get(k)]
            return bitstream, {"omitted": omitted} if omitted else {}
        return bitstream, {}

    def _decode_floats(self, entries: list[Entry], blob: bytes, meta: dict[str, Any]):
        nonempty = [e for e in entries if e.numel > 0]
        decoded: dict[str, np.ndarray] = {}
        if nonempty:
            if self.stateful:
                now = {str(i): tuple(e.shape) if len(e.shape) else (1,) for i, e in enumerate(nonempty)}
                self._forget_reshaped(self._dec_base, self._dec_shapes, now)
            try:
                decoded = nnc_decompress(blob, base=self._dec_base)
            except (SystemExit, AssertionError, Exception) as exc:
                raise ValueError(f"payload: not a decodable NNC bitstream ({type(exc).__name__}: {exc})") from exc
        for key in meta.get("omitted", []):  # all-zero tensors of an incremental (TCA) update
            decoded.setdefault(str(key), np.zeros(nonempty[int(key)].numel, dtype=np.float32))
        out, i = [], 0
        for e in entries:
            if e.numel == 0:
                out.append(np.zeros(0, dtype=np.float32))
                continue
            arr = decoded.get(str(i))
            if arr is None or arr.size != e.numel:
                raise ValueError(f"payload: NNC bitstream lacks tensor {e.name!r} with {e.numel} values")
            out.append(np.asarray(arr, dtype=np.float32).reshape(-1))
            i += 1
        if len(decoded) != i:
            raise ValueError(f"payload: NNC bitstream holds {len(decoded)} tensors, header lists {i}")
        return out
