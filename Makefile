# Thin wrapper over CMake: `make demo` builds and runs the demo site, `make test` runs every test.
BUILD ?= build
CMAKE_FLAGS ?=
QUIRE := $(BUILD)/quire
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

# Debian 12 packages the build and the tests need (wrk: reload under load in the server test).
PACKAGES := build-essential cmake pkg-config liblua5.4-dev libsqlite3-dev sqlite3 libuv1-dev \
  libmbedtls-dev node-llhttp libmd4c-dev libmd4c-html0-dev libgumbo-dev zlib1g-dev libpcre2-dev libmimalloc-dev \
  lua-busted lua-cjson lua-expat libargon2-dev curl openssl python3-feedparser tidy chromium wrk \
  libvips-dev libvips-tools nodejs nginx gettext libpq-dev postgresql-15 varnish varnish-modules \
  libbrotli-dev brotli libdeflate-dev libxxhash-dev

# Only the benchmarks need these.
BENCH_PACKAGES := hyperfine bc nginx imagemagick hugo time

# Only the scanner test (QUIRE_SCAN=1, ctest label scan) needs these: `make scan-deps`.
SCAN_PACKAGES := sqlmap wapiti

.PHONY: all deps browser-deps build demo test test-asan bench bench-deps clean scan-deps

all: build

scan-deps:
	@$(MAKE) --no-print-directory deps PACKAGES="$(SCAN_PACKAGES)"

bench-deps:
	@$(MAKE) --no-print-directory deps PACKAGES="$(BENCH_PACKAGES)"

# Installs missing packages when run as root; otherwise prints the exact command and stops.
deps:
	@missing=$$(for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done | tr '\n' ' '); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "Missing Debian packages. Install them with:"; \
	    echo "  sudo apt-get install -y $$missing"; \
	    exit 1; \
	  fi; \
	fi

# The browser tests' drivers (playwright-core, axe-core) from npm, pinned by the lockfile.
browser-deps: deps
	@command -v npm >/dev/null || $(MAKE) --no-print-directory deps PACKAGES=npm
	@cmp -s tests/browser/package-lock.json tests/browser/node_modules/.installed-lock || { \
	  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error && \
	  cp tests/browser/package-lock.json tests/browser/node_modules/.installed-lock; }

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@MAKEFLAGS= cmake --build $(BUILD) -j$(JOBS)

# `make demo PORT=9000` serves on another port; the demo's links follow it (it sets no base_url).
PORT ?= 8080
demo: build
	@if [ ! -d demo-site ]; then $(QUIRE) init --demo demo-site || exit 1; fi
	@echo "The demo site: http://127.0.0.1:$(PORT)/  (Ctrl-C stops it)"
	@link=$$($(QUIRE) user reset-link maren --site demo-site --hours 24 | head -1 | sed 's|^[a-z]*://[^/]*||'); \
	  echo "The newsroom (/admin): sign in as the demo's editor, maren, by choosing a password at this one-time link:"; \
	  echo "  http://127.0.0.1:$(PORT)$$link"
	@$(QUIRE) serve --site demo-site --listen 127.0.0.1:$(PORT) --workers 2

# Every test twice: a normal build, then one with AddressSanitizer and UndefinedBehaviorSanitizer.
test: build browser-deps
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	@$(MAKE) --no-print-directory test-asan

test-asan: deps browser-deps
	@cmake -S . -B build-asan -DQUIRE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@MAKEFLAGS= cmake --build build-asan -j$(JOBS)
	@cd build-asan && ctest --output-on-failure -j$(JOBS)

bench: build bench-deps
	@for b in bench/*.sh; do echo "== $$b"; QUIRE=$(QUIRE) bash $$b || exit 1; done

clean:
	rm -rf $(BUILD) build-asan

# Installs the binary, the bundled plugins and the systemd unit under PREFIX (DESTDIR honoured).
PREFIX ?= /usr/local
.PHONY: install package
install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

# A Debian package (build/quire_VERSION_ARCH.deb) with its dependencies declared.
package: build
	@cd $(BUILD) && cpack -G DEB

# Fuzzing with clang + libFuzzer under ASan and UBSan: each target of tests/fuzz runs for
# FUZZ_SECONDS on its seeds (new inputs kept in build-fuzz/corpus/TARGET). A crash is written to
# tests/fuzz/TARGET/crash-*, where the normal `ctest` replays it from then on: commit it with the fix.
FUZZ_PACKAGES := clang-14 libfuzzer-14-dev
FUZZ_SECONDS ?= 60
# Extra libFuzzer flags; CI passes a fixed -seed and -runs so that its run replays the sequence
# a developer can replay (`make fuzz FUZZ_FLAGS="-seed=1 -runs=20000"`), FUZZ_SECONDS bounding it.
FUZZ_FLAGS ?=
FUZZ_TARGETS := http template markdown wxr json config multipart
.PHONY: fuzz
fuzz:
	@$(MAKE) --no-print-directory deps PACKAGES="$(PACKAGES) $(FUZZ_PACKAGES)"
	@CC=clang-14 cmake -S . -B build-fuzz -DQUIRE_FUZZ=ON >/dev/null
	@MAKEFLAGS= cmake --build build-fuzz -j$(JOBS) --target $(addprefix fuzz_,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/corpus/$$t; \
	  echo "== fuzz_$$t: $(FUZZ_SECONDS) s"; \
	  build-fuzz/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 $(FUZZ_FLAGS) -artifact_prefix=tests/fuzz/$$t/crash- build-fuzz/corpus/$$t tests/fuzz/$$t \
	    2> build-fuzz/fuzz_$$t.log || { tail -60 build-fuzz/fuzz_$$t.log; exit 1; }; \
	  grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' build-fuzz/fuzz_$$t.log | tr '\n' ' '; echo; \
	done
