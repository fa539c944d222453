"""One quickstart round: where the wall time goes, and the same training as a plain sequential PEFT loop.

Prints, side by side in one run: the simulator's round split into training vs everything else
(SimPy, channel, policy, aggregation, evaluation, I/O), and the wall time of a plain loop written
here (peft + AdamW, the same clients, steps and batches, no simulator) doing the same training.
The simulator's own overhead should stay under 5 % of a round.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fedwireless.scenario import load_scenario  # noqa: E402
from fedwireless.sim.loop import Simulation  # noqa: E402

ROUNDS = 5


def plain_peft_round(sim: Simulation, assignments: list[tuple[int, int]]) -> float:
    """The same local training with nothing around it: load adapter, AdamW steps, read adapter back."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    lr = sim.learner
    model = lr.method.model
    t0 = time.perf_counter()
    for device, rank in assignments:
        model.set_adapter(f"r{rank}")
        set_peft_model_state_dict(model, lr.method.global_state, adapter_name=f"r{rank}")
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=sim.sc.task.lr, weight_decay=0.0)
        batches = lr.client_batches(device, rank)
        model.train()
        for ids, mask, labels in batches:
            loss = torch.nn.functional.cross_entropy(model(input_ids=ids, attention_mask=mask).logits, labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
        model.eval()
        {k: v.detach().clone() for k, v in get_peft_model_state_dict(model, adapter_name=f"r{rank}").items()}
    return time.perf_counter() - t0


def main() -> None:
    sc = load_scenario(ROOT / "scenarios" / "quickstart.yaml", {"output.plots": False})
    sim = Simulation(sc)
    sim.step()  # warm-up: first-call overheads of torch and peft
    rows = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        sim.step()
        total = time.perf_counter() - t0
        timing = sim.timing_rows[-1]
        selected = [
            (int(d), int(r))
            for d, r in zip(
                [row["device"] for row in sim.device_rows[-sim.world.num_devices :] if row["rank"] > 0],
                [row["rank"] for row in sim.device_rows[-sim.world.num_devices :] if row["rank"] > 0],
            )
        ]
        plain = plain_peft_round(sim, selected)
        rows.append((total, timing["train_s"], timing["evaluate_s"], plain, len(selected)))
    a = np.array(rows)
    total, train, evaluate, plain = a[:, 0].mean(), a[:, 1].mean(), a[:, 2].mean(), a[:, 3].mean()
    other = total - train - evaluate
    print(
        f"quickstart, mean of {ROUNDS} rounds ({a[:, 4].mean():.0f} clients per round), torch threads "
        f"{torch.get_num_threads()}"
    )
    print(f"{'part of the round':44s} {'wall s':>9s} {'share':>7s}")
    print(f"{'training (fedwireless)':44s} {train:9.3f} {train / total:7.1%}")
    print(f"{'evaluation of the global model':44s} {evaluate:9.3f} {evaluate / total:7.1%}")
    print(f"{'simulator overhead (SimPy, channel, policy, agg, I/O)':44s} {other:9.4f} {other / total:7.2%}")
    print(f"{'whole round':44s} {total:9.3f} {1:7.1%}")
    print(f"{'plain sequential PEFT loop, same training':44s} {plain:9.3f}")
    print(f"ratio fedwireless training / plain loop: {train / plain:.3f}")
    print(f"simulator overhead: {other / total:.2%} of a round (target < 5 %)")


if __name__ == "__main__":
    main()
