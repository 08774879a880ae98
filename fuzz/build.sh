#!/usr/bin/env bash
# Builds the sanitizer copy of the C decoder for `make fuzz`: clang with AddressSanitizer,
# UndefinedBehaviorSanitizer and libFuzzer's coverage instrumentation (-fsanitize=fuzzer-no-link),
# into build/fuzz/ only; the package's own consumers/events/_dmsjson*.so is never touched.
# The runtime (ASan + UBSan + libFuzzer) comes from atheris' asan_with_fuzzer.so at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG=${CLANG:-$(command -v clang || command -v clang-14 || true)}
if [ -z "$CLANG" ]; then
  echo "make fuzz needs clang (libFuzzer's coverage instrumentation is clang-only): apt-get install clang" >&2
  exit 2
fi
OUT=build/fuzz
mkdir -p "$OUT"
CC="$CLANG" LDSHARED="$CLANG -shared" \
  CFLAGS="-DDMSJSON_FUZZ -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined" \
  LDFLAGS="-fsanitize=address,undefined" \
  .venv/bin/python setup.py -q build_ext --build-lib "$OUT/lib" --build-temp "$OUT/tmp" --force \
  2> >(grep -v -e '_BetaConfiguration' -e 'warnings.warn' >&2)
find "$OUT/lib" -name '_dmsjson*.so'
