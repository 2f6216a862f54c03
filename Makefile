# sgsearch: one non-recursive Makefile.
#   make            build every program (build/release/)
#   make test       install missing deps, build, run every test
#   make test SAN=address,undefined   the same under sanitizers (build/san/)
#   make run        build the default corpus index (and start the local cluster)
#   make bench      benchmarks; figures go to bench/RESULTS.md
#   make fuzz       run the fuzzers for FUZZ_SECONDS each

CC ?= cc
SAN ?=
PYTHON := /usr/bin/python3

ifeq ($(SAN),)
VARIANT := release
OPT := -O2 -g
ALLOC_LIBS := -ljemalloc
SAN_FLAGS :=
else
VARIANT := san
OPT := -O1 -g -fno-omit-frame-pointer
ALLOC_LIBS :=
SAN_FLAGS := -fsanitize=$(SAN) -fno-sanitize-recover=all
endif

B := build/$(VARIANT)
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS := -std=c11 $(OPT) $(WARN) -D_GNU_SOURCE -I. -pthread $(SAN_FLAGS) $(EXTRA_CFLAGS)
LDFLAGS := -pthread $(SAN_FLAGS)
LIBS := -ljansson -lxxhash -lutf8proc -lzstd -lz -lm
SERVER_LIBS := -lmicrohttpd -lck

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/%.o)
LIBSGS := $(B)/libsgs.a

INDEX_SRC := $(wildcard index-tools/*.c)
INDEX_OBJ := $(INDEX_SRC:%.c=$(B)/%.o)

LEAF_SRC := $(wildcard leaf/*.c)
LEAF_OBJ := $(LEAF_SRC:%.c=$(B)/%.o)

ROOT_SRC := $(wildcard root/*.c)
ROOT_OBJ := $(ROOT_SRC:%.c=$(B)/%.o)

# sgs-bench: bench/*.c (bench/micro/ holds the in-process micro benchmarks).
BENCH_SRC := $(wildcard bench/*.c)
BENCH_OBJ := $(BENCH_SRC:%.c=$(B)/%.o)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

# A program joins the build once its folder has sources.
PROGRAMS := $(B)/sgs-index $(B)/sgs-synth
ifneq ($(LEAF_SRC),)
PROGRAMS += $(B)/sgs-leaf
endif
ifneq ($(ROOT_SRC),)
PROGRAMS += $(B)/sgs-root
endif
ifneq ($(BENCH_SRC),)
PROGRAMS += $(B)/sgs-bench
endif
# bench/micro/bench_<name>.c: one in-process micro benchmark each.
MICRO_SRC := $(wildcard bench/micro/bench_*.c)
MICRO_BENCH := $(MICRO_SRC:bench/micro/%.c=$(B)/bench/%)

# pytest suites: every tests/<suite>/ folder holding test_*.py.
PYTEST_DIRS := $(sort $(dir $(wildcard tests/*/test_*.py)))

.PHONY: all deps deps-bench test unit pytest bench run fuzz fuzz-smoke format lint clean
all: $(PROGRAMS) $(MICRO_BENCH)

deps:
	@scripts/deps.sh build

deps-bench:
	@scripts/deps.sh bench

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBSGS): $(COMMON_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/sgs-index: $(INDEX_OBJ) $(LIBSGS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(ALLOC_LIBS)

$(B)/sgs-leaf: $(LEAF_OBJ) $(LIBSGS)
	$(CC) $(LDFLAGS) -o $@ $^ $(SERVER_LIBS) $(LIBS) $(ALLOC_LIBS)

$(B)/sgs-root: $(ROOT_OBJ) $(LIBSGS)
	$(CC) $(LDFLAGS) -o $@ $^ $(SERVER_LIBS) $(LIBS) $(ALLOC_LIBS)

$(B)/sgs-bench: $(BENCH_OBJ) $(LIBSGS)
	$(CC) $(LDFLAGS) -o $@ $^ $(SERVER_LIBS) $(LIBS) $(ALLOC_LIBS)

$(B)/sgs-synth: $(B)/index-tools/corpora/synth.o
	$(CC) $(LDFLAGS) -o $@ $^ -lm

$(B)/bench/bench_%: $(B)/bench/micro/bench_%.o $(LIBSGS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SERVER_LIBS) $(LIBS)

$(B)/tests/%: $(B)/tests/unit/%.o $(LIBSGS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion $(SERVER_LIBS) $(LIBS)

# tests/unit/test_root_<x>.c test sgs-root's own pure parts: linked with
# root/*.o except main.o.
$(B)/tests/test_root_%: $(B)/tests/unit/test_root_%.o $(filter-out $(B)/root/main.o,$(ROOT_OBJ)) $(LIBSGS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion $(SERVER_LIBS) $(LIBS)

# libFuzzer targets: tests/fuzz/fuzz_<name>.c with a committed corpus in
# tests/fuzz/corpus/<name>/. Built with clang, ASan and UBSan in build/fuzz/.
# `make test` replays each corpus and fuzzes FUZZ_SMOKE_SECONDS; `make fuzz`
# fuzzes FUZZ_SECONDS each.
FUZZ_CC := clang
FUZZ_FLAGS := -std=c11 -O1 -g -D_GNU_SOURCE -I. -pthread -fno-omit-frame-pointer \
    -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_COMMON_OBJ := $(COMMON_SRC:%.c=build/fuzz/%.o)
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_SECONDS ?= 300

build/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

build/fuzz/fuzz_%: build/fuzz/tests/fuzz/fuzz_%.o $(FUZZ_COMMON_OBJ)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(SERVER_LIBS) $(LIBS)

fuzz-smoke: $(FUZZ_BIN)
	@set -e; for f in $(FUZZ_BIN); do \
	    name=$${f##*/fuzz_}; corpus=tests/fuzz/corpus/$$name; \
	    echo "== $$f ($(FUZZ_SMOKE_SECONDS) s over $$corpus)"; \
	    mkdir -p build/fuzz/new/$$name; \
	    $$f -max_total_time=$(FUZZ_SMOKE_SECONDS) -print_final_stats=0 \
	        build/fuzz/new/$$name $$corpus 2>build/fuzz/$$name.log \
	        || { tail -60 build/fuzz/$$name.log; exit 1; }; \
	done

fuzz: $(FUZZ_BIN)
	@set -e; for f in $(FUZZ_BIN); do \
	    name=$${f##*/fuzz_}; corpus=tests/fuzz/corpus/$$name; \
	    $$f -max_total_time=$(FUZZ_SECONDS) $$corpus; \
	done

# Unit tests run twice: with the best SIMD kernels and with the scalar ones;
# those of the SIMD-dispatched modules also capped at AVX2, which a CPU with
# AVX-512 would otherwise never run.
SIMD_UNIT := $(B)/tests/test_eval $(B)/tests/test_intersect $(B)/tests/test_postings
unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do \
	    echo "== $$t"; $$t --jobs 2; \
	    echo "== $$t (SGS_SIMD=scalar)"; SGS_SIMD=scalar $$t --jobs 2; \
	done; \
	for t in $(SIMD_UNIT); do \
	    echo "== $$t (SGS_SIMD=avx2)"; SGS_SIMD=avx2 $$t --jobs 2; \
	done

pytest: all
	SGS_BUILD=$(B) SGS_SAN=$(SAN) $(PYTHON) -m pytest -q -p no:cacheprovider $(PYTEST_DIRS)

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory pytest
	@$(MAKE) --no-print-directory fuzz-smoke

bench: deps deps-bench all
	SGS_BUILD=$(B) scripts/bench-index.sh
	SGS_BUILD=$(B) scripts/bench-leaf.sh
	SGS_BUILD=$(B) scripts/bench-root.sh
	SGS_BUILD=$(B) scripts/bench-peers.sh

run: deps all
	SGS_BUILD=$(B) scripts/run-local.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

lint:
	clang-tidy --quiet $$(git ls-files 'common/*.c' 'index-tools/*.c') -- $(CFLAGS)
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance -I. \
	    $$(git ls-files '*.c')

clean:
	rm -rf build

-include $(COMMON_OBJ:.o=.d) $(INDEX_OBJ:.o=.d) $(LEAF_OBJ:.o=.d) $(ROOT_OBJ:.o=.d) $(BENCH_OBJ:.o=.d)
-include $(MICRO_SRC:%.c=$(B)/%.d) $(UNIT_SRC:%.c=$(B)/%.d)
-include $(FUZZ_COMMON_OBJ:.o=.d) $(FUZZ_SRC:%.c=build/fuzz/%.d)
