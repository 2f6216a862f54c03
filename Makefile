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

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/%.o)
LIBSGS := $(B)/libsgs.a

INDEX_SRC := $(wildcard index-tools/*.c)
INDEX_OBJ := $(INDEX_SRC:%.c=$(B)/%.o)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

PROGRAMS := $(B)/sgs-index $(B)/sgs-synth
MICRO_BENCH := $(B)/bench/bench_codec

.PHONY: all deps deps-bench test unit pytest bench run fuzz format lint clean
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

$(B)/sgs-synth: $(B)/index-tools/corpora/synth.o
	$(CC) $(LDFLAGS) -o $@ $^ -lm

$(B)/bench/bench_codec: $(B)/bench/micro/bench_codec.o $(LIBSGS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/%: $(B)/tests/unit/%.o $(LIBSGS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion $(LIBS)

# Unit tests run twice: with the best SIMD kernels and with the scalar ones.
unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do \
	    echo "== $$t"; $$t --jobs 2; \
	    echo "== $$t (SGS_SIMD=scalar)"; SGS_SIMD=scalar $$t --jobs 2; \
	done

pytest: all
	SGS_BUILD=$(B) SGS_SAN=$(SAN) $(PYTHON) -m pytest -q -p no:cacheprovider tests/index

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory pytest

bench: deps deps-bench all
	SGS_BUILD=$(B) scripts/bench-index.sh

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

-include $(COMMON_OBJ:.o=.d) $(INDEX_OBJ:.o=.d) $(UNIT_SRC:%.c=$(B)/%.d)
