#!/usr/bin/env bash
# Create one virtualenv per reference system ("anchor") that benchmarks/*.py
# compare Quorum against.  The anchors never go into the project's .venv.
#
#   benchmarks/setup_anchors.sh                 # all: eg crypten mpyc psi flwr
#   benchmarks/setup_anchors.sh eg psi          # only some
#
# Environment:
#   ANCHOR_VENVS    where the venvs go           (default: ~/anchor-venvs)
#   QUORUM_ANCHORS  the anchors folder (drivers, patches)
#                   (default: ../shared/anchors next to the repo checkout)
#   ANCHOR_PY310    Python 3.10 for ElectionGuard (default: pyenv's 3.10.13);
#                   if it is missing, Python 3.11 + electionguard_py311.patch
#
# Idempotent: a venv whose import check already passes is left alone; a
# half-built one is completed.  Versions are the ones the anchor READMEs were
# measured with (shared/anchors/*/README.md).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENVS="${ANCHOR_VENVS:-$HOME/anchor-venvs}"
ANCHORS="${QUORUM_ANCHORS:-$REPO/../shared/anchors}"

PY310="${ANCHOR_PY310:-$HOME/.pyenv/versions/3.10.13/bin/python}"
PY311="$HOME/.pyenv/versions/3.11.7/bin/python"
[ -x "$PY311" ] || PY311="$(command -v python3.11 || true)"

# Pins (as measured in the anchor READMEs).
NUMPY=numpy==2.4.6
SKLEARN=scikit-learn==1.9.1

log() { printf '[setup_anchors] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ -d "$ANCHORS" ] || die "anchors folder not found: $ANCHORS (set QUORUM_ANCHORS)"
[ -n "$PY311" ] || die "python3.11 not found"
mkdir -p "$VENVS"

# make_venv NAME PYTHON: create $VENVS/NAME with PYTHON unless it already exists.
make_venv() {
  local dir="$VENVS/$1" py="$2"
  if [ ! -x "$dir/bin/python" ]; then
    log "$1: creating venv with $("$py" --version 2>&1)"
    "$py" -m venv "$dir"
    pipi "$1" --upgrade pip
  fi
}

# pipi NAME ARGS...: pip install into venv NAME (hides pip's notes about this
# machine's missing local index folders; pip's exit status is kept).
pipi() {
  local name="$1"; shift
  { "$VENVS/$name/bin/python" -m pip install -q "$@" 2>&1 1>&3 \
      | { grep -v 'is ignored: it is neither a file nor a directory' || true; } >&2; } 3>&1
}

site_packages() {
  "$VENVS/$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
}

# apply_patch PATCHFILE DIR: apply a -p0 patch in DIR once (skips if already applied).
apply_patch() {
  local patchfile="$1" dir="$2"
  if patch -p0 -R --dry-run -s -f -d "$dir" <"$patchfile" >/dev/null 2>&1; then
    log "patch already applied: $(basename "$patchfile")"
  else
    log "applying $(basename "$patchfile") in $dir"
    patch -p0 -b -f -d "$dir" <"$patchfile"
  fi
}

# check NAME CODE: true if the venv exists and CODE runs in it without error.
check() {
  [ -x "$VENVS/$1/bin/python" ] && (cd /tmp && "$VENVS/$1/bin/python" -c "$2") >/dev/null 2>&1
}

ok() { log "$1: ready ($VENVS/$1)"; }

EG_CHECK='import electionguard, electionguard.tally, psutil, gmpy2'
setup_eg() {
  check eg "$EG_CHECK" && { ok eg; return; }
  local py="$PY310" needs_patch=0
  if [ ! -x "$py" ]; then
    # electionguard 1.4.0 fails to import on 3.11 (dataclass default in tally.py).
    py="$PY311"; needs_patch=1
  elif [ -x "$VENVS/eg/bin/python" ] && ! "$VENVS/eg/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
    needs_patch=1   # an existing 3.11 venv from a machine without 3.10
  fi
  make_venv eg "$py"
  pipi eg electionguard==1.4.0 psutil
  if [ "$needs_patch" = 1 ]; then
    apply_patch "$ANCHORS/electionguard/electionguard_py311.patch" "$(site_packages eg)"
  fi
  check eg "$EG_CHECK" || die "eg: import check failed: $EG_CHECK"
  ok eg
}

CRYPTEN_CHECK='import torch, crypten, crypten.nn.onnx_converter as c, inspect; assert "dynamo" in inspect.getsource(c); import onnx, omegaconf, pandas, scipy, sklearn; assert torch.__version__.startswith("2.13.0")'
setup_crypten() {
  check crypten "$CRYPTEN_CHECK" && { ok crypten; return; }
  make_venv crypten "$PY311"
  # torch 2.13.0 comes from the local wheel (/opt/wheels); never another version.
  pipi crypten torch==2.13.0
  pipi crypten --no-deps crypten==0.4.1
  pipi crypten torch==2.13.0 "$NUMPY" onnx==1.23.2 omegaconf==2.4.0 pandas==3.1.1 scipy==1.17.1 "$SKLEARN"
  # The patch is against crypten/nn/onnx_converter.py (paths relative to crypten/nn).
  apply_patch "$ANCHORS/mpc/crypten_torch213.patch" "$(site_packages crypten)/crypten/nn"
  check crypten "$CRYPTEN_CHECK" || die "crypten: import check failed"
  ok crypten
}

MPYC_CHECK='import mpyc, mpyc.runtime, numpy, gmpy2, sklearn; assert mpyc.__version__ == "0.11", mpyc.__version__'
setup_mpyc() {
  check mpyc "$MPYC_CHECK" && { ok mpyc; return; }
  make_venv mpyc "$PY311"
  pipi mpyc mpyc==0.11 "$NUMPY" gmpy2==2.3.2 "$SKLEARN"
  check mpyc "$MPYC_CHECK" || die "mpyc: import check failed: $MPYC_CHECK"
  ok mpyc
}

PSI_CHECK='import private_set_intersection.python as psi; psi.client.CreateWithNewKey(True)'
setup_psi() {
  check psi "$PSI_CHECK" && { ok psi; return; }
  make_venv psi "$PY311"
  pipi psi openmined-psi==2.0.6
  check psi "$PSI_CHECK" || die "psi: import check failed: $PSI_CHECK"
  ok psi
}

FLWR_CHECK='import flwr, numpy; from flwr.common.secure_aggregation.crypto.shamir import combine_shares; from flwr.supercore.primitives.asymmetric import generate_key_pairs'
setup_flwr() {
  check flwr "$FLWR_CHECK" && { ok flwr; return; }
  make_venv flwr "$PY311"
  pipi flwr flwr==1.42.0 "$NUMPY"
  check flwr "$FLWR_CHECK" || die "flwr: import check failed: $FLWR_CHECK"
  ok flwr
}

ALL=(eg crypten mpyc psi flwr)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${ALL[@]}")
for t in "${targets[@]}"; do
  case "$t" in
    eg|crypten|mpyc|psi|flwr) "setup_$t" ;;
    *) die "unknown anchor '$t' (known: ${ALL[*]})" ;;
  esac
done
log "all requested anchors ready under $VENVS"
