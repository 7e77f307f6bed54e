#!/usr/bin/env bash
# One idempotent set-up for a new user and for CI, on Debian 12 (bookworm).
#
# Installs (as root, only what is missing):
#   - Mesa 25 lavapipe from bookworm-backports (Debian 12's own Mesa 22 lacks descriptor indexing
#     and ray tracing). The backports sources entry is derived at run time from this machine's
#     own Debian sources (same archive URI and keyring); an existing backports entry is reused.
#   - the Vulkan loader, headers, validation layer and tools, SPIR-V tools, libclang (bindgen),
#     Xvfb (window tests of later issues), ffmpeg (export of frames to movies).
#   - the Slang 2026.12 compiler, taken from the pinned slangpy wheel into .slang/ (git-ignored).
# Then checks that a Vulkan device exposes what the tests need and stops loudly if not.
# Takes seconds when nothing is missing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SLANGPY_VERSION=0.43.1
SLANG_VERSION=2026.12
MESA_MIN=25

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

sudo_() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# ---------------------------------------------------------------- Debian packages
packages=(libvulkan1 libvulkan-dev vulkan-tools vulkan-validationlayers spirv-tools libclang-dev
          xvfb xauth python3 python3-pip python3-venv pkg-config ffmpeg)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
mesa_ok=0
if dpkg-query -W -f='${Status}' mesa-vulkan-drivers 2>/dev/null | grep -q 'install ok installed' \
   && v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null) \
   && dpkg --compare-versions "$v" ge "$MESA_MIN"; then
  mesa_ok=1
fi

codename=$( . /etc/os-release && echo "${VERSION_CODENAME:-}")

# Makes ${codename}-backports available to apt: reuses an entry the machine already has (as
# apt sees it, so commented or disabled entries do not count), else writes one derived from the
# machine's own Debian sources. Leaves the package lists updated.
ensure_backports() {
  [[ -n $codename ]] || die "cannot tell the Debian release (no VERSION_CODENAME in /etc/os-release)"
  say "apt-get update"
  sudo_ apt-get update -qq
  if apt-cache policy | grep -Eq "[an]=${codename}-backports(,|$)"; then
    say "${codename}-backports already configured"
    return
  fi
  local uri="" keyring=""
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    # deb822: take the stanza whose Suites list the release itself.
    read -r uri keyring < <(awk -v suite="$codename" '
      BEGIN { RS=""; FS="\n" }
      {
        u=""; k=""; s=0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/)      { sub(/^URIs:[ \t]*/, "", $i); split($i, a, /[ \t]+/); u=a[1] }
          if ($i ~ /^Signed-By:/) { sub(/^Signed-By:[ \t]*/, "", $i); k=$i }
          if ($i ~ /^Suites:/)    { n=split($i, b, /[ \t]+/); for (j = 2; j <= n; j++) if (b[j] == suite) s=1 }
        }
        if (s && u != "") { print u, (k == "" ? "-" : k); exit }
      }' /etc/apt/sources.list.d/debian.sources) || true
  fi
  if [[ -z $uri && -f /etc/apt/sources.list ]]; then
    uri=$(awk -v suite="$codename" '$1 == "deb" {
            i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
            if ($(i+1) == suite) { print $i; exit } }' /etc/apt/sources.list)
  fi
  [[ -n $uri ]] || die "could not find this machine's Debian archive for '$codename' in /etc/apt/sources.list[.d]; add a ${codename}-backports entry by hand"
  [[ -n $keyring && $keyring != - ]] || keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  say "adding ${codename}-backports from $uri"
  sudo_ tee /etc/apt/sources.list.d/xpg-backports.sources >/dev/null <<SRC
Types: deb
URIs: $uri
Suites: ${codename}-backports
Components: main
Signed-By: $keyring
SRC
  say "apt-get update"
  sudo_ apt-get update -qq
}

if (( ${#missing[@]} > 0 || ! mesa_ok )); then
  command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12; install Mesa >= $MESA_MIN lavapipe, the Vulkan loader and validation layer by hand"
  [[ $codename == bookworm ]] || say "warning: written for Debian 12 (bookworm), this is '$codename'"
  export DEBIAN_FRONTEND=noninteractive
  if (( mesa_ok )); then
    say "apt-get update"
    sudo_ apt-get update -qq
  else
    ensure_backports
  fi
  if (( ${#missing[@]} > 0 )); then
    say "installing ${missing[*]}"
    sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if (( ! mesa_ok )); then
    say "installing Mesa lavapipe from ${codename}-backports"
    sudo_ apt-get install -y -qq --no-install-recommends -t "${codename}-backports" mesa-vulkan-drivers >/dev/null
  fi
fi

# ---------------------------------------------------------------- Slang
slang_dir="$root/.slang"
slang_lib="$slang_dir/lib/libslang-compiler.so.0.$SLANG_VERSION"
if [[ ! -f $slang_lib || ! -f $slang_dir/include/slang.h || ! -e $slang_dir/lib/libslang.so ]]; then
  [[ $(uname -m) == x86_64 ]] || die "the pinned slangpy wheel is for x86_64; on $(uname -m) install Slang $SLANG_VERSION into .slang/{lib,include} by hand"
  say "fetching Slang $SLANG_VERSION from the slangpy $SLANGPY_VERSION wheel"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    --implementation cp --platform manylinux_2_34_x86_64 -d "$tmp" "slangpy==$SLANGPY_VERSION" \
    || die "pip could not download slangpy==$SLANGPY_VERSION"
  mkdir -p "$slang_dir/lib" "$slang_dir/include"
  python3 - "$tmp"/slangpy-*.whl "$slang_dir" "$SLANG_VERSION" <<'PY'
import sys, zipfile, os, shutil, re
whl, out, ver = sys.argv[1], sys.argv[2], sys.argv[3]
libs = {f"slangpy/libslang-compiler.so.0.{ver}", f"slangpy/libslang-glslang-{ver}.so",
        f"slangpy/libslang-glsl-module-{ver}.so"}
with zipfile.ZipFile(whl) as z:
    names = set(z.namelist())
    for n in libs:
        if n not in names:
            sys.exit(f"setup: ERROR: {n} not in {whl}")
    for n in names:
        if n in libs:
            dst = os.path.join(out, "lib", os.path.basename(n))
        elif re.fullmatch(r"slangpy/include/slang[^/]*\.h", n):
            dst = os.path.join(out, "include", os.path.basename(n))
        else:
            continue
        with z.open(n) as src, open(dst + ".part", "wb") as d:
            shutil.copyfileobj(src, d)
        os.replace(dst + ".part", dst)
PY
  ln -sfn "libslang-compiler.so.0.$SLANG_VERSION" "$slang_dir/lib/libslang.so"
  echo "$SLANG_VERSION" > "$slang_dir/VERSION"
fi

# ---------------------------------------------------------------- Rust
if ! command -v cargo >/dev/null; then
  die "cargo not found: install Rust (rustup, stable >= the rust-version in Cargo.toml) and re-run"
fi

# ---------------------------------------------------------------- Vulkan capability check
command -v vulkaninfo >/dev/null || die "vulkaninfo missing (package vulkan-tools)"
info=$(vulkaninfo 2>/dev/null) || die "vulkaninfo failed: no Vulkan driver works on this machine"
need_ext=(VK_KHR_acceleration_structure VK_KHR_ray_tracing_pipeline VK_KHR_deferred_host_operations
         VK_KHR_push_descriptor)
need_feat=(descriptorIndexing runtimeDescriptorArray descriptorBindingPartiallyBound
           descriptorBindingVariableDescriptorCount shaderSampledImageArrayNonUniformIndexing
           descriptorBindingUpdateUnusedWhilePending
           descriptorBindingSampledImageUpdateAfterBind timelineSemaphore bufferDeviceAddress
           synchronization2 dynamicRendering accelerationStructure rayTracingPipeline)
lacking=()
for e in "${need_ext[@]}"; do grep -q "^[[:space:]]*$e[[:space:]]*:" <<<"$info" || lacking+=("extension $e"); done
for f in "${need_feat[@]}"; do grep -Eq "^[[:space:]]*$f[[:space:]]*= true" <<<"$info" || lacking+=("feature $f"); done
if (( ${#lacking[@]} > 0 )); then
  die "the Vulkan device lacks what the tests need: ${lacking[*]}
       (devices: $(grep -m3 'deviceName' <<<"$info" | sed 's/.*= //' | paste -sd, -))
       On Debian 12 this means Mesa < $MESA_MIN: install mesa-vulkan-drivers from ${codename}-backports."
fi
# ---------------------------------------------------------------- the Python client
# Debian's system Python refuses system-wide pip installs: the client's tests run in .venv/
# (NumPy, pytest), with the client installed as users install it (pip install clients/python).
venv="$root/.venv"
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import numpy, pytest, setuptools, wheel' 2>/dev/null; then
  say "Python environment for the client's tests in .venv/"
  rm -rf "$venv"
  python3 -m venv "$venv" || die "python3 -m venv failed (the python3-venv package)"
  "$venv/bin/pip" install -q numpy pytest setuptools wheel || die "pip could not install numpy, pytest, setuptools, wheel"
fi
"$venv/bin/pip" install -q --no-build-isolation --no-deps "$root/clients/python" \
  || die "pip could not install the Python client (clients/python)"

say "ok: Vulkan $(grep -m1 -o 'Vulkan Instance Version: .*' <<<"$info" | cut -d' ' -f4), device $(grep -m1 'deviceName' <<<"$info" | sed 's/.*= //'), Slang $SLANG_VERSION in .slang/"
