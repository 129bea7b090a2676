#!/usr/bin/env bash
# Build the Linux installer of Backstep:
#   1. PyInstaller one-folder app   -> dist/backstep/backstep   (work files in build/)
#   2. its self-test                -> dist/backstep/backstep --self-test must pass
#   3. a Debian package             -> dist/backstep_<version>_<arch>.deb
#      /opt/backstep/...                                  the app folder
#      /usr/bin/clinic-app -> /opt/backstep/backstep      command line and GUI
#      /usr/share/applications/backstep.desktop           menu entry
#      /usr/share/icons/hicolor/256x256/apps/backstep.png icon
#
# Usage: installer/build_linux.sh            (from anywhere; uses the repository root)
# Environment: PYTHON  interpreter with Backstep's dependencies (default: .venv/bin/python,
#                      else python3); PyInstaller is installed into it when missing.
# Needs: dpkg-deb (dpkg), objdump (binutils), ldd (libc-bin). desktop-file-validate (desktop-file-utils) is used if present.
# Figures (build time, sizes, self-test time) are printed and written to build/figures.txt.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

die() { echo "build_linux.sh: $*" >&2; exit 1; }
command -v dpkg-deb >/dev/null || die "dpkg-deb not found: install the 'dpkg' package."
command -v objdump >/dev/null || die "objdump not found (PyInstaller needs it): install 'binutils'."
command -v ldd >/dev/null || die "ldd not found: install 'libc-bin'."
"$PYTHON" -c "import clinic_app, PySide6" 2>/dev/null \
  || die "$PYTHON cannot import clinic_app and PySide6: pip install -e . first."
if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
  echo "== installing PyInstaller into $PYTHON"
  "$PYTHON" -m pip install -q "pyinstaller>=6.10"
fi

VERSION="$("$PYTHON" -c 'import clinic_app; print(clinic_app.__version__)')"
ARCH="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
APP="$ROOT/dist/backstep"
DEB="$ROOT/dist/backstep_${VERSION}_${ARCH}.deb"
mkdir -p build dist
FIGURES="$ROOT/build/figures.txt"
: >"$FIGURES"
figure() { echo "$1: $2" | tee -a "$FIGURES"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
secs() { local ms=$(( $2 - $1 )); echo "$(( ms / 1000 )).$(( ms % 1000 / 100 )) s"; }

echo "== PyInstaller build of Backstep $VERSION"
t0=$(now_ms)
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" installer/backstep.spec
t1=$(now_ms)
[ -x "$APP/backstep" ] || die "PyInstaller did not produce $APP/backstep"
figure "build time (PyInstaller)" "$(secs "$t0" "$t1")"
figure "dist size" "$(du -sh "$APP" | cut -f1) ($(du -sb "$APP" | cut -f1) bytes)"

echo "== shared libraries the bundle needs but neither ships nor finds on this machine"
missing="$(find "$APP" -type f \( -name '*.so*' -o -name backstep \) -print0 \
  | LD_LIBRARY_PATH="$APP/_internal:$APP/_internal/PySide6/Qt/lib" xargs -0 -n 20 ldd 2>/dev/null \
  | grep 'not found' | sort -u || true)"
if [ -n "$missing" ]; then echo "warning: unresolved libraries:"; echo "$missing"; else echo "none"; fi

echo "== self-test of the frozen app"
t0=$(now_ms)
env -u CLINIC_APP_DB QT_QPA_PLATFORM=offscreen "$APP/backstep" --self-test \
  || die "the frozen app failed its self-test"
t1=$(now_ms)
figure "frozen self-test time" "$(secs "$t0" "$t1")"

echo "== Debian package"
STAGE="$ROOT/build/deb/backstep_${VERSION}_${ARCH}"
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
  "$STAGE/usr/share/icons/hicolor/256x256/apps" "$STAGE/usr/share/doc/backstep"
cp -a "$APP" "$STAGE/opt/backstep"
ln -s /opt/backstep/backstep "$STAGE/usr/bin/clinic-app"
install -m 0644 resources/backstep.desktop "$STAGE/usr/share/applications/backstep.desktop"
install -m 0644 resources/icons/backstep.png "$STAGE/usr/share/icons/hicolor/256x256/apps/"
install -m 0644 resources/fonts/LICENSE "$STAGE/usr/share/doc/backstep/copyright"
chmod -R u+rwX,go+rX,go-w "$STAGE"
if command -v desktop-file-validate >/dev/null; then
  desktop-file-validate "$STAGE/usr/share/applications/backstep.desktop" \
    || die "desktop-file-validate rejected resources/backstep.desktop"
else
  echo "note: desktop-file-validate not installed (desktop-file-utils); .desktop not validated"
fi
SIZE_KB="$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)"
cat >"$STAGE/DEBIAN/control" <<EOF
Package: backstep
Version: $VERSION
Architecture: $ARCH
Maintainer: Backstep <support@backstep.invalid>
Installed-Size: $SIZE_KB
Section: science
Priority: optional
Depends: libc6 (>= 2.31), libegl1, libgl1, libfontconfig1, libfreetype6, libdbus-1-3, libglib2.0-0, libxkbcommon0, libxkbcommon-x11-0, libx11-6, libx11-xcb1, libxcb1, libxcb-cursor0, libxcb-icccm4, libxcb-image0, libxcb-keysyms1, libxcb-randr0, libxcb-render0, libxcb-render-util0, libxcb-shape0, libxcb-shm0, libxcb-sync1, libxcb-util1, libxcb-xfixes0, libxcb-xkb1
Recommends: libxcb-xinerama0, libwayland-cursor0, libwayland-egl1
Homepage: https://backstep.invalid/
Description: Retro-walking knee rehabilitation charting for physiotherapy clinics
 Backstep charts retro-walking (backward walking) sessions and standardized tests
 during knee rehabilitation, plots each patient's recovery and prints PDF progress
 reports. Works offline with SQLite or clinic-wide with PostgreSQL.
 .
 Start it from the menu or with "clinic-app"; "clinic-app --self-test" checks the
 installation without touching real data.
EOF
rm -f "$DEB"
t0=$(now_ms)
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$DEB" >/dev/null
t1=$(now_ms)
figure "deb build time" "$(secs "$t0" "$t1")"
figure "deb size" "$(du -h "$DEB" | cut -f1) ($(stat -c %s "$DEB") bytes)"
figure "deb file" "$DEB"
echo "== done: $DEB"
