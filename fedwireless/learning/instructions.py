"""A generated instruction set for personalized fine-tuning, offline, in the spirit of the sentiment data.

Each row is `prompt [SEP] response` on one of five topics. Responses are helpful or not and safe or not:
a helpful one gives the topic's steps, an unhelpful one dodges; an unsafe one recommends one of the
topic's hazards. Labels `helpful` and `safe` train the reward models; `topic` is the row's label, so the
usual partitions (dirichlet, by-group) make devices differ in topics. A local JSONL file with `prompt`,
`response` and optional `helpful`, `safe`, `topic` fields works too (`task.dataset.name: instructions`,
`path`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEPARATOR = "[SEP]"

TOPICS: dict[str, dict[str, list[str]]] = {
    "cooking": {
        "subjects": ["rice", "pasta", "soup", "bread", "eggs", "chicken", "vegetables", "a cake"],
        "steps": [
            "wash it first",
            "heat the pan slowly",
            "add a pinch of salt",
            "stir every minute",
            "cover the pot",
            "cook it until it is soft",
            "let it rest before serving",
        ],
        "hazards": [
            "leave the stove on overnight",
            "eat the chicken raw",
            "pour water on burning oil",
            "use a knife toward your hand",
        ],
    },
    "travel": {
        "subjects": ["a flight", "a hotel", "a train ticket", "a road trip", "a passport", "a city tour"],
        "steps": [
            "book two weeks ahead",
            "compare the prices online",
            "pack a small bag",
            "check the opening hours",
            "keep a copy of your documents",
            "arrive one hour early",
        ],
        "hazards": [
            "drive all night without sleep",
            "leave your passport with a stranger",
            "hitch a ride with anyone at night",
            "skip the travel insurance on a climb",
        ],
    },
    "fitness": {
        "subjects": ["running", "push ups", "a workout plan", "stretching", "swimming", "cycling"],
        "steps": [
            "warm up for ten minutes",
            "start with short sessions",
            "drink water often",
            "rest one day a week",
            "increase the load slowly",
            "keep your back straight",
        ],
        "hazards": [
            "train through sharp pain",
            "skip water on a hot day",
            "lift the heaviest weight first",
            "cycle without a helmet in traffic",
        ],
    },
    "money": {
        "subjects": ["savings", "a budget", "a loan", "taxes", "an investment", "a credit card"],
        "steps": [
            "write down every expense",
            "save a part of each salary",
            "pay the full balance",
            "compare the interest rates",
            "keep an emergency fund",
            "read the contract twice",
        ],
        "hazards": [
            "borrow to gamble",
            "share your card pin",
            "put all savings in one coin",
            "sign a loan you did not read",
        ],
    },
    "computers": {
        "subjects": ["a laptop", "a password", "a backup", "an update", "a printer", "a slow phone"],
        "steps": [
            "restart the device",
            "install the latest update",
            "back up your files weekly",
            "use a long password",
            "close the apps you do not use",
            "check the cable",
        ],
        "hazards": [
            "turn off the firewall",
            "reuse one password everywhere",
            "open every attachment",
            "install apps from unknown sites",
        ],
    },
}

_PROMPTS = [
    "how do i handle {s} ?",
    "what is the best way to deal with {s} ?",
    "any advice on {s} ?",
    "help me with {s} please .",
    "i need tips for {s} .",
]
_DODGES = [
    "i am not sure , maybe ask someone else .",
    "that depends , hard to say .",
    "i cannot help with that right now .",
    "just search for it somewhere .",
    "who knows , good luck .",
]


@dataclass(frozen=True)
class InstructionRows:
    prompts: list[str]
    responses: list[str]
    topic: np.ndarray  # [n] index into `topics`
    helpful: np.ndarray  # [n] 0/1 (−1: not labelled)
    safe: np.ndarray  # [n] 0/1 (−1: not labelled)
    topics: tuple[str, ...]

    @property
    def texts(self) -> list[str]:
        return [f"{p} {SEPARATOR} {r}" for p, r in zip(self.prompts, self.responses)]

    def take(self, idx: np.ndarray) -> InstructionRows:
        return InstructionRows([self.prompts[i] for i in idx], [self.responses[i] for i in idx], self.topic[idx],
                               self.helpful[idx], self.safe[idx], self.topics)  # fmt: skip


def generate_instructions(
    n: int, rng: np.random.Generator, label_noise: float = 0.0, topics: list[str] | None = None
) -> InstructionRows:
    """n rows; the four (helpful, safe) kinds equally likely; `label_noise` of the labels flipped; only rows of
    `topics` (names in TOPICS) when given."""
    names = tuple(TOPICS)
    prompts, responses = [], []
    if topics is None:
        topic = rng.integers(0, len(names), n)
    else:
        topic = np.array([names.index(t) for t in topics])[rng.integers(0, len(topics), n)]
    helpful = rng.integers(0, 2, n)
    safe = rng.integers(0, 2, n)
    for t, h, s in zip(topic, helpful, safe):
        spec = TOPICS[names[t]]
        subject = spec["subjects"][rng.integers(len(spec["subjects"]))]
        prompts.append(_PROMPTS[rng.integers(len(_PROMPTS))].format(s=subject))
        a, b = rng.choice(len(spec["steps"]), 2, replace=False)
        hazard = spec["hazards"][rng.integers(len(spec["hazards"]))]
        if h and s:
            text = f"{spec['steps'][a]} , then {spec['steps'][b]} ."
        elif h:
            text = f"{spec['steps'][a]} , then {hazard} ."
        elif s:
            text = _DODGES[rng.integers(len(_DODGES))]
        else:
            text = f"just {hazard} , it does not matter ."
        responses.append(text)
    flip = rng.random((2, n)) < label_noise
    return InstructionRows(prompts, responses, topic, np.where(flip[0], 1 - helpful, helpful),
                           np.where(flip[1], 1 - safe, safe), names)  # fmt: skip


def read_instructions(path: Path, limit: int | None = None, topics: tuple[str, ...] | None = None) -> InstructionRows:
    """Rows of a JSONL file: `prompt`, `response`, optional `helpful`/`safe` (0/1) and `topic` (a name)."""
    prompts, responses, topic, helpful, safe = [], [], [], [], []
    names: list[str] = list(topics or ())
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            prompts.append(str(row["prompt"]))
            responses.append(str(row["response"]))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"{path}:{n}: an instruction row needs JSON with 'prompt' and 'response' ({e})") from e
        name = str(row.get("topic", "general"))
        if name not in names:
            names.append(name)
        topic.append(names.index(name))
        for key, out in (("helpful", helpful), ("safe", safe)):
            v = row.get(key, -1)
            if v not in (0, 1, -1, True, False):
                raise ValueError(f"{path}:{n}: '{key}' must be 0 or 1, got {v!r}")
            out.append(int(v))
        if limit and len(prompts) >= limit:
            break
    if not prompts:
        raise ValueError(f"{path}: no instruction rows")
    return InstructionRows(prompts, responses, np.array(topic), np.array(helpful), np.array(safe), tuple(names))


def response_span(ids: np.ndarray, mask: np.ndarray, sep_id: int) -> np.ndarray:
    """[n, L] 1 on the response tokens (after the first [SEP], EOS included), the tokens a client learns to say."""
    after = np.cumsum(ids == sep_id, axis=1) > 0
    return (after & (ids != sep_id) & (mask > 0)).astype(np.int64)
