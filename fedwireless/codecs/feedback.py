"""Stateful wrappers around any codec: error feedback (sender residual) and difference coding.

Both keep per-tensor state by name. A tensor whose shape changes between calls (a LoRA module whose
rank was switched) restarts from zero state for that name; names absent from an update keep their
state for a later round. Integer/bool tensors pass through untouched (they are coded exactly).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from fedwireless.codecs.base import Codec


def encode_and_reconstruct(codec: Codec, tensors: dict[str, torch.Tensor]) -> tuple[bytes, dict[str, torch.Tensor]]:
    """Payload and what the receiver will decode from it.

    Uses the codec's own `encode_and_reconstruct` when it has one (a stateful `DifferenceCoder` must not
    run its receiver-side `decode` on the sender); otherwise `decode(encode(tensors))`.
    """
    own: Callable | None = getattr(codec, "encode_and_reconstruct", None)
    if own is not None:
        return own(tensors)
    payload = codec.encode(tensors)
    return payload, codec.decode(payload)


def _state_for(state: dict[str, torch.Tensor], name: str, like: torch.Tensor) -> torch.Tensor | None:
    s = state.get(name)
    return s if s is not None and s.shape == like.shape else None


class ErrorFeedback:
    """Error feedback / error accumulation on the sender (Seide et al. 2014; Stich et al. 2018;
    NNCodec FL's ``err_accumulation``): what a lossy codec dropped is added to the next update.

    ``encode(u_t)``: c_t = u_t + r_{t-1}; payload = codec(c_t); d_t = decode(payload); r_t = c_t - d_t.
    Summed over rounds, sum(d_t) = sum(u_t) - r_T (r_0 = 0), so the server's running sum of decoded
    updates differs from the true sum by exactly the current residual. Works the same upstream (one
    instance per client) and downstream (one on the server for the broadcast).
    """

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.name = f"ef+{codec.name}"
        self.residual: dict[str, torch.Tensor] = {}

    def reset(self) -> None:
        self.residual = {}

    def encode(self, update: dict[str, torch.Tensor]) -> tuple[bytes, dict[str, torch.Tensor]]:
        """Payload and the decoded update the receiver will see.

        Keeps residual = (update + residual) - decoded.
        """
        corrected: dict[str, torch.Tensor] = {}
        for name, u in update.items():
            if not isinstance(u, torch.Tensor) or not u.is_floating_point():
                corrected[name] = u  # the container rejects non-tensors with a clear message
                continue
            r = _state_for(self.residual, name, u)
            u32 = u.detach().to(torch.float32)
            corrected[name] = u32 + r if r is not None else u32.clone()
        payload, decoded = encode_and_reconstruct(self.codec, corrected)
        for name, c in corrected.items():
            if c.is_floating_point():
                self.residual[name] = c - decoded[name]
        return payload, decoded


class DifferenceCoder:
    """Temporal prediction: code u_t - ref, where ref is the previously *decoded* update.

    Closed loop (as in DPCM): the sender reconstructs exactly what the receiver decodes and uses that
    as its reference, so a lossy codec does not make sender and receiver drift apart. Sender and
    receiver each keep their own instance (`encode` on one, `decode` on the other); using one instance
    for both raises RuntimeError. It satisfies the `Codec` protocol, so it composes with ErrorFeedback:
    ``ErrorFeedback(DifferenceCoder(codec))`` on the sender, ``DifferenceCoder(codec)`` on the receiver.
    """

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.name = f"diff+{codec.name}"
        self.lossless = codec.lossless
        self.reference: dict[str, torch.Tensor] = {}
        self._role: str | None = None

    def _claim(self, role: str) -> None:
        if self._role is None:
            self._role = role
        elif self._role != role:
            raise RuntimeError(
                f"DifferenceCoder: this instance is a {self._role}; use a separate instance as {role} "
                "(sender and receiver each keep their own reference)"
            )

    def reset(self) -> None:
        self.reference = {}

    def _diff(self, update: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for name, u in update.items():
            if isinstance(u, torch.Tensor) and u.is_floating_point():
                ref = _state_for(self.reference, name, u)
                u32 = u.detach().to(torch.float32)
                out[name] = u32 - ref if ref is not None else u32
            else:
                out[name] = u
        return out

    def _integrate(self, decoded_diff: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for name, d in decoded_diff.items():
            if d.is_floating_point():
                ref = _state_for(self.reference, name, d)
                rec = d + ref if ref is not None else d.clone()
                self.reference[name] = rec
                out[name] = rec.clone()
            else:
                out[name] = d
        return out

    def encode_and_reconstruct(self, update: dict[str, torch.Tensor]) -> tuple[bytes, dict[str, torch.Tensor]]:
        """Sender side: payload of the difference, and the update the receiver will reconstruct."""
        self._claim("sender")
        payload, decoded_diff = encode_and_reconstruct(self.codec, self._diff(update))
        return payload, self._integrate(decoded_diff)

    def encode(self, update: dict[str, torch.Tensor]) -> bytes:
        return self.encode_and_reconstruct(update)[0]

    def decode(self, payload: bytes) -> dict[str, torch.Tensor]:
        """Receiver side: the reconstructed update (reference + decoded difference)."""
        self._claim("receiver")
        return self._integrate(self.codec.decode(payload))
