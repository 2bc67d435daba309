#!/usr/bin/env bash
# Installs the Debian packages that `scripts/debian-packages` lists for USE (start or test) when they are missing:
# as root with apt-get; otherwise prints the exact apt-get line. With --required a missing package that could
# not be installed is an error (exit 1); without it a warning.
# usage: scripts/ensure-debian-packages.sh start|test [--required]
set -euo pipefail
use=${1:?usage: ensure-debian-packages.sh start|test [--required]}
required=${2:-}
list="$(dirname "$0")/debian-packages"
present() {
  case "$1" in
    file:*) [ -x "${1#file:}" ] ;;
    cmd:*) command -v "${1#cmd:}" >/dev/null 2>&1 ;;
    py:*) [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import ${1#py:}" >/dev/null 2>&1 ;;
    *) echo "debian-packages: unknown check '$1'" >&2; exit 2 ;;
  esac
}
missing=()
while read -r package check users _; do
  case "$package" in '' | '#'*) continue ;; esac
  case ",$users," in *",$use,"*) ;; *) continue ;; esac
  present "$check" || missing+=("$package")
done <"$list"
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >&2 || { apt-get update -qq >&2 && apt-get install -y -qq "${missing[@]}" >&2; }
  exit 0
fi
echo "Lazurite needs these Debian packages for '$use': sudo apt-get install ${missing[*]}" >&2
[ "$required" = --required ] && exit 1
exit 0
