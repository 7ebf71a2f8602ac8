#!/usr/bin/env bash
# Installs Mesa's software Vulkan driver (lavapipe), the driver this crate's numbers and CI
# use, and prints its version. Idempotent: safe to run again.
#
#   tools/install-lavapipe.sh                 the system driver: on Debian 12 Mesa 25 from
#                                             bookworm-backports (Debian 12's own Mesa 22 is
#                                             2.6-5x slower); elsewhere the distribution's Mesa
#   tools/install-lavapipe.sh --beside DIR    Debian 12's stock Mesa 22.3 unpacked into DIR,
#                                             beside the system driver, without replacing it;
#                                             prints the ICD file to put in VK_ICD_FILENAMES
set -euo pipefail

STOCK_BOOKWORM=22.3.6-1+deb12u2

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive

# The Debian mirror this machine already uses (deb822 or one-line sources), for backports.
debian_mirror() {
  local uri
  uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | awk '{print $2}' | grep -v security | head -n 1 || true)
  [ -n "$uri" ] || uri=$(grep -hsE '^deb +(\[[^]]*\] +)?https?://[^ ]*debian' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | sed -E 's/^deb +(\[[^]]*\] +)?//' | awk '{print $1}' | grep -v security | head -n 1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

. /etc/os-release
codename=${VERSION_CODENAME:-}

if [ "${1:-}" = "--beside" ]; then
  dir=${2:?usage: $0 --beside DIR}
  [ "$ID" = debian ] && [ "$codename" = bookworm ] \
    || { echo "--beside unpacks Debian 12's Mesa; this is $PRETTY_NAME" >&2; exit 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  lib="$dir/root/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so"
  if [ ! -f "$lib" ]; then
    (cd "$dir" && rm -f mesa-vulkan-drivers_*.deb \
      && apt-get download -qq "mesa-vulkan-drivers=$STOCK_BOOKWORM" \
      && dpkg -x mesa-vulkan-drivers_*.deb root)
  fi
  # The same ICD description with library_path naming the unpacked driver.
  sed -E "s|\"library_path\": *\"[^\"]*\"|\"library_path\": \"$lib\"|" \
    "$dir/root/usr/share/vulkan/icd.d/lvp_icd.x86_64.json" > "$dir/lvp_icd.json"
  echo "$dir/lvp_icd.json"
  exit 0
fi

if command -v apt-get >/dev/null; then
  if [ "$ID" = debian ] && [ "$codename" = bookworm ]; then
    list=/etc/apt/sources.list.d/bookworm-backports.list
    if ! grep -qsr 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo "deb $(debian_mirror) bookworm-backports main" | as_root tee "$list" >/dev/null
    fi
    as_root apt-get update -qq
    as_root apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers
  else
    as_root apt-get update -qq
    as_root apt-get install -y -qq mesa-vulkan-drivers
  fi
  echo "lavapipe: mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
elif command -v dnf >/dev/null; then
  as_root dnf install -y mesa-vulkan-drivers
  echo "lavapipe: $(rpm -q mesa-vulkan-drivers)"
else
  echo "install Mesa's Vulkan drivers (lavapipe) with your package manager" >&2
  exit 1
fi
