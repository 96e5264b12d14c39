#!/usr/bin/env bash
# The installed quire stands alone: `cmake --install` into a temporary prefix, the tree copied
# elsewhere (the original removed), the source and build trees hidden (a private mount namespace
# with empty folders bound over them, when unshare is allowed), and the demo served from the
# installed files only. Then the .deb: its control data, its files, and its binary run from the
# unpacked package.
# usage: install_test.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
unset QUIRE_BUNDLED_PLUGINS QUIRE_SITE
. "$(dirname "$0")/harness.sh"
TEST_NAME=install

# --- inside the namespace (or, without one, in a folder outside both trees): serve the demo
serve_phase() {
  local root=$1 work=$2
  local quire=$root/bin/quire
  cd "$work/elsewhere" || exit 1
  check "source tree out of reach" test ! -e "$SRC/plugins/theme/plugin.lua" -o "$HIDDEN" = no
  "$quire" init --demo site > init.log 2>&1 || { bad "quire init --demo: $(cat init.log)"; return; }
  local list
  list=$("$quire" plugins list --site site 2>&1)
  check "theme found in the installed share/quire/plugins ($list)" grep -qF "(${root}/share/quire/plugins/theme)" <<<"$list"
  check "config check passes" "$quire" config check --site site > /dev/null
  "$quire" serve --site site --listen 127.0.0.1:0 --workers 1 > serve.log 2>&1 &
  local master=$!
  waitfor 60 started serve.log
  local port
  port=$(grep -o 'http://127.0.0.1:[0-9]*' serve.log | head -1 | cut -d: -f3)
  if [ -z "$port" ]; then
    bad "server did not start: $(cat serve.log)"
  else
    local base=http://127.0.0.1:$port code
    code=$(curl -s -o home.html -w '%{http_code}' "$base/")
    check "home page 200 (got $code)" test "$code" = 200
    check "home page has the theme's layout" grep -q '<header class="site-header">' home.html
    local article
    article=$(grep -o 'href="/20[0-9][0-9]/[0-9][0-9]/[a-z0-9-]*"' home.html | head -1 | cut -d'"' -f2)
    check "home page links an article" test -n "$article"
    code=$(curl -s -o article.html -w '%{http_code}' "$base$article")
    check "article $article 200 (got $code)" test "$code" = 200
    check "article rendered by the article plugin's template" grep -q '<article class="entry entry-article"' article.html
    check "article inside the theme's layout" grep -q '<header class="site-header">' article.html
    code=$(curl -s -o /dev/null -w '%{http_code}' "$base/static/theme/quire.css")
    check "theme stylesheet served from the install (got $code)" test "$code" = 200
    code=$(curl -s -o /dev/null -w '%{http_code}' "$base/static/admin/admin.css")
    check "admin stylesheet served from the install (got $code)" test "$code" = 200
    code=$(curl -s -o /dev/null -w '%{http_code}' "$base/admin")
    check "admin asks for sign-in (got $code)" test "$code" = 303
  fi
  kill -TERM "$master" 2>/dev/null
  wait "$master" 2>/dev/null
}

if [ -n "${INSTALL_TEST_INNER:-}" ]; then
  # Re-entered inside the private mount namespace: hide both trees, then serve.
  empty=$INSTALL_TEST_INNER/empty
  mount --bind "$empty" "$SRC" || exit 3
  case "$BUILD/" in "$SRC"/*) ;; *) mount --bind "$empty" "$BUILD" || exit 3 ;; esac
  HIDDEN=yes
  serve_phase "$INSTALL_TEST_INNER/moved" "$INSTALL_TEST_INNER"
  if [ -d "$INSTALL_TEST_INNER/deb/usr/bin" ]; then
    check "the unpacked .deb's binary finds its plugins" \
      "$INSTALL_TEST_INNER/deb/usr/bin/quire" config check --site "$INSTALL_TEST_INNER/elsewhere/site" > /dev/null
  fi
  echo "$passed $failed" > "$INSTALL_TEST_INNER/inner.result"
  exit 0
fi

work=$(mktemp -d /tmp/quire-install-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/empty" "$work/elsewhere"

# --- install into a prefix, check the unit names the installed binary, then move the tree
cmake --install "$BUILD" --prefix "$work/prefix" > "$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
check "binary installed in bin/" test -x "$work/prefix/bin/quire"
check "theme installed in share/quire/plugins" test -f "$work/prefix/share/quire/plugins/theme/plugin.lua"
check "plugin specs not installed" test ! -e "$work/prefix/share/quire/plugins/theme/spec"
check "unit runs the installed binary" \
  grep -qx "ExecStart=$work/prefix/bin/quire serve --site /srv/quire/site" "$work/prefix/lib/systemd/system/quire.service"
check "unit has no placeholder left" bash -c "! grep -q @QUIRE_ '$work/prefix/lib/systemd/system/quire.service'"
cp -a "$work/prefix" "$work/moved" && rm -rf "$work/prefix"

# --- the .deb: control data declares the dependencies; files at /usr; unpacked for the namespace
if command -v cpack >/dev/null && command -v dpkg-deb >/dev/null && command -v dpkg-shlibdeps >/dev/null; then
  (cd "$BUILD" && cpack -G DEB -B "$work/pkg" > "$work/cpack.log" 2>&1) || { bad "cpack: $(tail -5 "$work/cpack.log")"; }
  deb=$(ls "$work"/pkg/quire_*.deb 2>/dev/null | head -1)
  if [ -n "$deb" ]; then
    info=$(dpkg-deb -I "$deb")
    depends=$(dpkg-deb -f "$deb" Depends)
    for dep in libuv1 liblua5.4-0 libsqlite3-0 libmd4c0 libgumbo1 libargon2-1 libpcre2-8-0 lua-cjson lua-expat; do
      check "package depends on $dep ($depends)" grep -q "\b$dep\b" <<<"$depends"
    done
    check "package is named quire" test "$(dpkg-deb -f "$deb" Package)" = quire
    check "package has a description" grep -q "news or magazine site" <<<"$info"
    files=$(dpkg-deb -c "$deb")
    for f in ./usr/bin/quire ./usr/share/quire/plugins/theme/plugin.lua ./usr/lib/systemd/system/quire.service; do
      check "package holds $f" grep -qF " $f" <<<"$files"
    done
    dpkg-deb -x "$deb" "$work/deb"
    check "packaged unit runs /usr/bin/quire" grep -qx "ExecStart=/usr/bin/quire serve --site /srv/quire/site" "$work/deb/usr/lib/systemd/system/quire.service"
  else
    bad "no .deb built"
  fi
else
  echo "install: cpack, dpkg-deb or dpkg-shlibdeps missing; the .deb is not checked"
fi

# --- serve from the moved tree with the source and build trees hidden
if unshare -m true 2>/dev/null; then ns=(unshare -m)
elif unshare -rm true 2>/dev/null; then ns=(unshare -rm)
else ns=(); fi
if [ ${#ns[@]} -gt 0 ]; then
  INSTALL_TEST_INNER=$work "${ns[@]}" bash "$0" "$BUILD" "$SRC"
  rc=$?
  if [ "$rc" -eq 0 ] && [ -f "$work/inner.result" ]; then
    read -r p f < "$work/inner.result"
    passed=$((passed + p)) failed=$((failed + f))
  else
    bad "the namespace run failed (exit $rc)"
  fi
else
  echo "install: no mount namespace available; the source tree stays visible, served from a copy elsewhere"
  HIDDEN=no
  (serve_phase "$work/moved" "$work"; echo "$passed $failed" > "$work/inner.result")
  read -r passed failed < "$work/inner.result"
fi

finish
