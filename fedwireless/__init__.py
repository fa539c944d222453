"""fedwireless: federated fine-tuning of language models over simulated wireless networks.

Python API (imported on first use, so `import fedwireless` stays light):

- `fedwireless.run(scenario, *, overrides=None, out=None)` -> `Result` (rounds / devices DataFrames, summary)
- `fedwireless.load_scenario(scenario, overrides=None)` -> validated `Scenario`
- `fedwireless.sweep(path, *, workers=1, out=None)` -> the sweep's index as a DataFrame
"""

from fedwireless.version import __version__

_API = ("run", "load_scenario", "sweep", "Result", "read_tables")


def __getattr__(name: str):
    if name in _API:
        from fedwireless import api

        return getattr(api, name)
    raise AttributeError(f"module 'fedwireless' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


__all__ = ["Result", "__version__", "load_scenario", "read_tables", "run", "sweep"]
