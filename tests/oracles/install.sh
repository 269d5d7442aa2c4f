#!/usr/bin/env bash
# Installs Esri's own clients, the oracles the portal tests check the emulator and XPGEO's layers with:
# the ArcGIS API for Python (own venv), arcgis-rest-js and @arcgis/core (npm), and Chromium (Debian).
# Idempotent: a step whose result is already there is skipped. Target: XPGEO_ORACLE_DIR (default .oracles).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir="${XPGEO_ORACLE_DIR:-.oracles}"
mkdir -p "$dir"
