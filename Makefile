# Developer shortcuts; the README's two commands are the contract, these only wrap them.
# They use quickstart's .venv; scripts/test builds its own .venv-test (CI's clean room).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv dev test lint native-test bench bench-compare demo wheel clean

venv:
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

dev: venv
	$(PY) -m pip install -q -e '.[dev]'

# the suite makes bridges, veths and NAT rules: in a network namespace of its own
test:
	scripts/netns-run $(PY) -m pytest

native-test:
	cargo test --workspace
	cargo clippy --workspace --all-targets -- -D warnings

lint:
	cargo fmt --all --check
	rustfmt --edition 2021 --check monitor/main.rs
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings
	# monitor/main.rs is built by build.rs with plain rustc, so cargo clippy does not see it
	clippy-driver --edition 2021 -W clippy::pedantic -D warnings monitor/main.rs -o target/monitor-lint
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches
	$(VENV)/bin/mypy
	# the comparison script imports its package as `comparison` (benches/ on sys.path)
	cd benches && MYPYPATH=.. $(abspath $(VENV))/bin/mypy compare.py comparison
	# the hand-written _native.pyi against the built module (no allowlist: all of it is expressible)
	$(PY) -m mypy.stubtest hybridock._native

bench:
	scripts/netns-run $(PY) -m pytest benches --benchmark-enable -p no:randomly

# hybridock beside docker, podman, skopeo+umoci and pigz|tar (issue 5): as root, under 20 minutes;
# installs the peers from Debian, writes benches/results/compare-<date>.{json,md}.
# Extra flags: make bench-compare COMPARE_FLAGS="--rounds 3 --only warm_run_hello"
bench-compare:
	$(PY) benches/compare.py --install-only
	scripts/netns-run $(PY) benches/compare.py --no-install $(COMPARE_FLAGS)

demo:
	$(PY) scripts/demo-registry start

wheel:
	$(VENV)/bin/maturin build --release

clean:
	rm -rf target dist .pytest_cache .mypy_cache .ruff_cache .venv-test
