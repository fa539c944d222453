# Two commands on a fresh machine: `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp changes whenever the install recipe or the dependency list changes, so a second run skips.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile | cksum | cut -d' ' -f1)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test test-slow bench bench-peers lint figures reproductions mutation clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[dev]"
	# nncodec metadata pins numpy<2 and torchvision; its core codec needs neither, so add it without deps.
	$(BIN)/pip install -q --no-deps "nncodec==2.1.3"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: install
	$(BIN)/fedwireless run scenarios/quickstart.yaml

test: install
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: install
	$(BIN)/python -m pytest -q -m slow

bench: install
	$(BIN)/python benchmarks/run_all.py

# The peers the benchmarks compare with (never in the main install): Flower, pfl-research.
bench-peers: install
	$(BIN)/pip install -q -e ".[bench]"
	$(BIN)/pip install -q --no-deps "pfl==0.6.0" "dp-accounting==0.5.1"
	$(BIN)/python benchmarks/bench_peers.py

# Redraws every figure under docs/ from its committed command (the policy sweep trains for real: ~20 min).
figures: install
	$(BIN)/fedwireless sweep scenarios/sweeps/policies.yaml --workers 2 --no-plots
	$(BIN)/fedwireless plot runs/sweeps/policies --out docs/policies
	$(BIN)/python -m fedwireless.studies tradeoff --out docs
	$(BIN)/python -m fedwireless.studies dvfs --out docs

# The four papers' reproductions (README, Reproductions): each sweep ~20-60 min with 2 workers on 2 cores.
reproductions: install
	for n in 000 001 002 003; do \
	  $(BIN)/fedwireless sweep scenarios/sweeps/reproduce-$$n.yaml --workers 2 --no-plots && \
	  $(BIN)/fedwireless plot runs/sweeps/reproduce-$$n --out docs/reproductions/$$n || exit 1; \
	done

# Mutation score of channels/, optimizers/solvers.py, the round engine and the aggregators ([tool.mutmut]).
mutation: install
	$(BIN)/pip install -q -e ".[mutation]"
	$(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info
