#!/usr/bin/env bash
# What feature `mpi` (data-parallel training) needs, installed when missing: Debian's
# OpenMPI (the library, its headers and mpirun) and libclang for rsmpi's bindgen. Idempotent;
# elsewhere it says what to install.
set -euo pipefail
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
packages=(libopenmpi-dev openmpi-bin libclang-dev)
if command -v apt-get >/dev/null; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}"
  fi
else
  echo "install an MPI library with mpicc and mpirun (OpenMPI or MPICH) and libclang" >&2
  command -v mpicc >/dev/null || exit 1
fi
mpirun --version | head -1
