#!/usr/bin/env bash
# Installs the shipgate binary for the composite action (action.yml), and
# prints `path=<binary>` to $GITHUB_OUTPUT.
#
# 1. The version: $SHIPGATE_VERSION, else the action's own ref
#    ($SHIPGATE_ACTION_REF; GitHub leaves GITHUB_ACTION_REF empty inside
#    composite steps, so action.yml passes github.action_ref through env).
# 2. Cached under the runner's tool cache: a second use in the job is instant.
# 3. Else download shipgate-<target>.tar.gz and its .sha256 from the action
#    repository's release for that version (base URL overridable with
#    SHIPGATE_DOWNLOAD_URL), verify the checksum (a mismatch installs nothing)
#    and unpack into the cache.
# 4. When the release has no such asset (the ref is a branch or a SHA), build
#    from the action's own checkout with `cargo install --locked`.
set -euo pipefail

fail() { echo "::error title=shipgate install::$*" >&2; exit 1; }
notice() { echo "::notice title=shipgate install::$*"; }

repository="${SHIPGATE_ACTION_REPOSITORY:-}"
[ -n "$repository" ] || repository="$(cat "${SHIPGATE_ACTION_PATH:-.}/action/NAME" 2>/dev/null || true)"
[ -n "$repository" ] || fail "cannot tell which repository the action comes from"
version="${SHIPGATE_VERSION:-}"
[ -n "$version" ] || version="${SHIPGATE_ACTION_REF:-}"
[ -n "$version" ] || fail "no version: set the action's \`version\` input (e.g. v1.2.0)"
case "$version" in
    *[!A-Za-z0-9._/-]*) fail "invalid version \`$version\`: use a tag such as v1.2.0, a branch or a commit SHA" ;;
esac

case "${RUNNER_OS:-$(uname -s)}/${RUNNER_ARCH:-$(uname -m)}" in
    Linux/X64 | Linux/x86_64) target=x86_64-unknown-linux-musl ;;
    Linux/ARM64 | Linux/aarch64) target=aarch64-unknown-linux-musl ;;
    macOS/X64 | Darwin/x86_64) target=x86_64-apple-darwin ;;
    macOS/ARM64 | Darwin/arm64) target=aarch64-apple-darwin ;;
    Windows/X64) target=x86_64-pc-windows-msvc ;;
    *) fail "no shipgate build for ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}; supported: Linux X64/ARM64, macOS X64/ARM64, Windows X64" ;;
esac
executable=shipgate
[ "$target" != x86_64-pc-windows-msvc ] || executable=shipgate.exe

cache_root="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}}/shipgate"
# One directory per version and target; `/` in a branch name is kept apart.
cache="$cache_root/${version//\//_}/$target"
binary="$cache/bin/$executable"

finish() {
    "$binary" --version >/dev/null || fail "the installed binary at $binary does not run"
    echo "path=$binary" >>"${GITHUB_OUTPUT:-/dev/stdout}"
    echo "$cache/bin" >>"${GITHUB_PATH:-/dev/null}"
}

if [ -x "$binary" ]; then
    echo "shipgate $version ($target) from the tool cache"
    finish
    exit 0
fi

base="${SHIPGATE_DOWNLOAD_URL:-https://github.com/$repository/releases/download}"
asset="shipgate-$target.tar.gz"
work="$(mktemp -d "${RUNNER_TEMP:-/tmp}/shipgate-install.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# `curl -f` fails on HTTP errors; --max-time bounds the whole transfer.
fetch() { curl -fsSL --retry 3 --connect-timeout 10 --max-time 300 -o "$2" "$1"; }
status() { curl -sSL -o /dev/null -w '%{http_code}' --connect-timeout 10 --max-time 60 "$1" || echo 000; }

code="$(status "$base/$version/$asset")"
if [ "$code" = 404 ]; then
    notice "no prebuilt shipgate for \`$version\` ($asset is not in the release); building it from the action's source with cargo (slow: several minutes)"
    command -v cargo >/dev/null || fail "no prebuilt binary for \`$version\` and no cargo to build one; use a released version (e.g. \`@v1\`)"
    [ -n "${SHIPGATE_ACTION_PATH:-}" ] || fail "no prebuilt binary for \`$version\` and no action checkout to build from"
    cargo install --locked --path "$SHIPGATE_ACTION_PATH" --root "$cache" \
        || fail "building shipgate from source failed"
    finish
    exit 0
fi
[ "$code" = 200 ] || fail "downloading $base/$version/$asset failed (HTTP $code)"

fetch "$base/$version/$asset" "$work/$asset" || fail "downloading $asset failed"
fetch "$base/$version/$asset.sha256" "$work/$asset.sha256" || fail "downloading $asset.sha256 failed"
expected="$(awk '{print $1; exit}' "$work/$asset.sha256")"
if command -v sha256sum >/dev/null; then
    actual="$(sha256sum "$work/$asset" | awk '{print $1}')"
else
    actual="$(shasum -a 256 "$work/$asset" | awk '{print $1}')"
fi
case "$expected" in
    *[!0-9a-f]* | "") fail "$asset.sha256 does not hold a SHA-256 digest" ;;
esac
[ "$expected" = "$actual" ] || fail "checksum mismatch for $asset: expected $expected, got $actual; nothing was installed"

mkdir -p "$work/unpacked"
tar -xzf "$work/$asset" -C "$work/unpacked" || fail "$asset is not a gzip tarball"
[ -f "$work/unpacked/$executable" ] || fail "$asset does not contain \`$executable\`"
mkdir -p "$cache/bin"
# Move into place last, so an interrupted install leaves no half binary.
install -m 0755 "$work/unpacked/$executable" "$cache/bin/.$executable.partial"
mv -f "$cache/bin/.$executable.partial" "$binary"
echo "shipgate $version ($target) installed from $base"
finish
