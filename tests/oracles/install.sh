#!/usr/bin/env bash
# Installs Esri's own clients, the oracles the portal tests check the emulator and XPGEO's layers with:
# the ArcGIS API for Python (own venv), arcgis-rest-js and @arcgis/core (npm), and Chromium (Debian).
# Idempotent: a step whose result is already there is skipped. Target: XPGEO_ORACLE_DIR (default .oracles).
#
# Layout of the target (the tests read the same paths, tests/oracle_support.py):
#   $dir/python_api/bin/python   a venv with arcgis==2.4.* and six (never a dependency of xpgeo_core)
#   $dir/<name>/node_modules     `npm ci` of tests/oracles/<name>/package-lock.json, for every such folder
#                                (rest_js: @esri/arcgis-rest-* 4.10.2; sdk: @arcgis/core)
#   chromium                     Debian's package, installed when missing and we are root
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="${XPGEO_ORACLE_DIR:-.oracles}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

say() { printf 'oracles: %s\n' "$*" >&2; }

# 1. The ArcGIS API for Python, in its own venv. `six` is imported by arcgis.raster (which
#    FeatureLayerCollection.fromitem imports) but not declared by arcgis.
py_spec=("arcgis==2.4.*" "six")
py_stamp="$dir/python_api/.xpgeo-installed"
py_check='import importlib.metadata as m, sys; sys.exit(not m.version("arcgis").startswith("2.4.") or not m.version("six"))'
if [ -f "$py_stamp" ] && [ "$(cat "$py_stamp")" = "${py_spec[*]}" ] && "$dir/python_api/bin/python" -c "$py_check" 2>/dev/null; then
  say "ArcGIS API for Python: already installed"
else
  say "ArcGIS API for Python: installing ${py_spec[*]} into $dir/python_api"
  python="${XPGEO_ORACLE_PYTHON:-python3}"
  [ -x "$dir/python_api/bin/python" ] || "$python" -m venv "$dir/python_api"
  "$dir/python_api/bin/python" -m pip install -q "${py_spec[@]}"
  "$dir/python_api/bin/python" -c "import arcgis, six"
  printf '%s' "${py_spec[*]}" > "$py_stamp"
fi

# 2. npm packages, pinned by the committed lock files (npm ci).
if command -v npm >/dev/null 2>&1; then
  for lock in tests/oracles/*/package-lock.json; do
    [ -f "$lock" ] || continue
    src="$(dirname "$lock")"
    name="$(basename "$src")"
    dest="$dir/$name"
    want="$(cat "$src/package.json" "$lock" | sha256sum | cut -d' ' -f1)"
    if [ -f "$dest/.xpgeo-installed" ] && [ "$(cat "$dest/.xpgeo-installed")" = "$want" ] && [ -d "$dest/node_modules" ]; then
      say "npm $name: already installed"
      continue
    fi
    say "npm $name: npm ci into $dest"
    mkdir -p "$dest"
    cp "$src/package.json" "$lock" "$dest/"
    # --ignore-scripts: no package here needs one, and @vaadin/vaadin-usage-statistics (pulled in by
    # @arcgis/core) would phone home from its postinstall.
    (cd "$dest" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    printf '%s' "$want" > "$dest/.xpgeo-installed"
  done
else
  say "npm not found: the arcgis-rest-js and Maps SDK oracles cannot run (install Node.js 18+ and npm)"
fi

# 3. Debian's Chromium, for the Maps SDK oracle (headless).
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  say "chromium: already installed"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "chromium: apt-get install chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q chromium >/dev/null
else
  say "chromium missing and not root (or no apt-get): install Debian's chromium to run the Maps SDK oracle"
fi
