# Sourced by the set-up scripts (scripts/quickstart, scripts/test) right after
# `set -Eeuo pipefail`: a failure names its line and command instead of ending the script in
# silence, and the checks the scripts share.
#
# No pipe into an early-exiting reader (`| head`, `| grep -q`) in these scripts: the writer dies
# of SIGPIPE when the reader leaves first, and pipefail turns that into a silent exit 141.

report_failure() {
    local status=$1 line=$2 command=$3
    # a command substitution's failure is reported once, by the command that used it
    ((BASH_SUBSHELL == 0)) || return 0
    printf '%s: stopped at line %s: %s (exit %s)\n' "${0##*/}" "$line" "$command" "$status" >&2
}
trap 'report_failure $? $LINENO "$BASH_COMMAND"' ERR

die() {
    printf '%s\n' "$*" >&2
    exit 1
}

# Building hybridock from source compiles its Rust core (maturin): say so before anything else.
require_cargo() {
    command -v cargo >/dev/null ||
        die "cargo not found: install Rust (rustup) or install a hybridock wheel"
}

# The first CPython >= 3.11 with venv: $PYTHON, else pyenv's, else python3.13 ... python3 on
# PATH. Prints the interpreter's own path (not a pyenv shim's).
pick_python() {
    local candidate found
    for candidate in ${PYTHON:-} "${PYENV_ROOT:-${HOME:-}/.pyenv}"/versions/3.1[1-9]*/bin/python3 \
        python3.13 python3.12 python3.11 python3; do
        command -v "$candidate" >/dev/null || continue
        if found=$("$candidate" -c "$PYTHON_FIT" 2>/dev/null); then
            echo "$found"
            return 0
        fi
    done
    echo "no python >= 3.11 with venv found (set PYTHON to one)" >&2
    return 1
}
PYTHON_FIT='
import os, sys, venv
sys.exit(sys.version_info < (3, 11) or print(os.path.realpath(sys.executable)))'
