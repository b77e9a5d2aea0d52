# The two commands a person needs: `make run` and `make test`.
# Both install missing packages first (scripts/deps.sh, as root on Debian 12).

BUILD       ?= build
BUILD_ASAN  ?= build-asan
BUILD_FUZZ  ?= build-fuzz
DEMO_DIR    ?= $(CURDIR)/demo
JOBS        ?= $(shell nproc)
FUZZ_SECONDS ?= 30
# CI turns warnings into errors.
WERROR      := $(if $(CI),ON,OFF)

.PHONY: all deps build run test test-unit test-asan test-fuzz bench format clean

all: build

deps:
	@./scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLS_WERROR=$(WERROR) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@test -d $(DEMO_DIR) || ./$(BUILD)/lanspread demo-library $(DEMO_DIR) --games 8
	./$(BUILD)/lanspread scan $(DEMO_DIR) --state $(DEMO_DIR)-state

test: build
	@$(MAKE) --no-print-directory test-unit test-asan test-fuzz

test-unit:
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan:
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DLS_SANITIZE=ON -DLS_WERROR=$(WERROR) >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS) -L unit

test-fuzz:
	@if command -v clang >/dev/null; then \
		CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLS_FUZZ=ON \
			-DLS_FUZZ_SECONDS=$(FUZZ_SECONDS) -DLS_WERROR=$(WERROR) >/dev/null && \
		cmake --build $(BUILD_FUZZ) -j $(JOBS) && \
		cd $(BUILD_FUZZ) && ctest --output-on-failure -j $(JOBS) -L fuzz; \
	else echo "test-fuzz: clang not found, fuzz targets skipped"; fi

bench: build
	@for b in bench/*.sh; do echo "== $$b"; bash $$b $(BUILD)/lanspread || exit 1; done

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
