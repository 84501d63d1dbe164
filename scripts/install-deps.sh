#!/usr/bin/env bash
# Installs the Debian packages libspdf needs to build and test, only those that are missing, so a
# second run costs a few dpkg queries.  Sourced or run by tests/run.sh and examples/run.sh.
set -euo pipefail

packages=(
    meson ninja-build pkg-config gcc g++ libc6-dev python3 binutils  # build
    libxsmm-dev                                                      # the xsmm build option
    check                                                            # unit tests
    abigail-tools                                                    # ABI baseline and abidiff
    clang libclang-rt-14-dev libomp-14-dev                           # fuzzing (tests/fuzz)
    python3-pip python3-setuptools python3-wheel                     # pip install of the binding
    libopenmpi-dev openmpi-bin                                       # spdf under mpirun (-Dmpi)
)

missing=()
for package in "${packages[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" != "install ok installed" ]; then
        missing+=("$package")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "installing: ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "missing packages (${missing[*]}) and not root: install them and run again" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
