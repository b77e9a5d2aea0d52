# The two commands a person needs: `make run` and `make test`.
# Both install missing packages first (scripts/deps.sh, as root on Debian 12).

BUILD       ?= build
BUILD_ASAN  ?= build-asan
BUILD_FUZZ  ?= build-fuzz
JOBS        ?= $(shell nproc)
FUZZ_SECONDS ?= 30
# CI turns warnings into errors.
WERROR      := $(if $(CI),ON,OFF)

.PHONY: all deps build run-build run run-second test test-unit test-asan test-fuzz bench format format-all \
	checksrc clean

all: build

deps:
	@./scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLS_WERROR=$(WERROR) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# `make run`: a daemon on a demo library in ./run, web UI on RUN_HTTP.
# `make run-second` (another terminal): a second peer with other games,
# connected to the first, web UI on RUN2_HTTP: download a game in either UI.
# Both build only the lanspread binary, quietly (the log is shown when the
# build fails), and the daemon prints the web UI's address once it listens.
# Demo games hold RUN_GAME_SIZE bytes each, so a download's progress shows.
RUN_DIR     ?= $(CURDIR)/run
RUN_LISTEN  ?= 0.0.0.0:7400
RUN_HTTP    ?= 127.0.0.1:7797
RUN2_LISTEN ?= 0.0.0.0:7401
RUN2_HTTP   ?= 127.0.0.1:7798
RUN_ARGS    ?=
RUN_GAME_SIZE ?= 32M
RUN_BUILD_LOG := $(BUILD)/run-build.log

run-build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLS_WERROR=$(WERROR) >/dev/null
	@echo "  building $(BUILD)/lanspread (log: $(RUN_BUILD_LOG))"
	@cmake --build $(BUILD) -j $(JOBS) --target lanspread >$(RUN_BUILD_LOG) 2>&1 || \
		{ tail -n 40 $(RUN_BUILD_LOG); echo "make run: the build failed; the log: $(RUN_BUILD_LOG)"; exit 1; }

run: run-build
	@test -d $(RUN_DIR)/games || { echo "  creating 8 demo games of $(RUN_GAME_SIZE) in $(RUN_DIR)/games" && \
		./$(BUILD)/lanspread demo-library $(RUN_DIR)/games --games 8 --size $(RUN_GAME_SIZE) >/dev/null; }
	@echo "  starting the demo peer; 'make run-second' in another terminal adds a second one,"
	@echo "  './$(BUILD)/lanspread games' lists the games, './$(BUILD)/lanspread open' logs the browser in"
	@mkdir -p $(RUN_DIR)/state && touch $(RUN_DIR)/config
	@./$(BUILD)/lanspread daemon --config $(RUN_DIR)/config --games $(RUN_DIR)/games \
		--state $(RUN_DIR)/state --name "$$(hostname)-demo" --listen $(RUN_LISTEN) \
		--http $(RUN_HTTP) $(RUN_ARGS)

run-second: run-build
	@test -d $(RUN_DIR)/second || { echo "  creating demo games of $(RUN_GAME_SIZE) in $(RUN_DIR)/second" && \
		./$(BUILD)/lanspread demo-library $(RUN_DIR)/second --games 12 --first 8 --size $(RUN_GAME_SIZE) >/dev/null && \
		for g in $$(ls $(RUN_DIR)/games 2>/dev/null); do rm -rf "$(RUN_DIR)/second/$$g"; done; }
	@echo "  starting the second peer, connected to 127.0.0.1:$(lastword $(subst :, ,$(RUN_LISTEN)))"
	@mkdir -p $(RUN_DIR)/state2 && touch $(RUN_DIR)/config2
	@./$(BUILD)/lanspread daemon --config $(RUN_DIR)/config2 --games $(RUN_DIR)/second \
		--state $(RUN_DIR)/state2 --name "$$(hostname)-second" --listen $(RUN2_LISTEN) \
		--http $(RUN2_HTTP) --peer 127.0.0.1:$(lastword $(subst :, ,$(RUN_LISTEN))) $(RUN_ARGS)

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

# Source hygiene (scripts/checksrc.py, also the ctest tests checksrc_format and
# checksrc_banned): `make checksrc` runs both checks; `make format` rewrites the
# files with the same clang-format 14 and .clang-format the check uses.
# `make format-all`: the one-time whole-tree reformat, then the check; commit
# its result alone ("Reformat the tree with clang-format 14").
checksrc:
	@python3 scripts/checksrc.py

format:
	@python3 scripts/checksrc.py --fix $(FILES)

format-all: format
	@python3 scripts/checksrc.py --format
	@git status --short -- '*.c' '*.h'

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
