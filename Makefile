# oplogkit - build, test, install.
#
#   make                  every program into bin/
#   make check            build, start test servers, run the bats suite
#   make demo             the main job: a live migration under a write load
#   make SANITIZE=1 check the same under AddressSanitizer + UBSan
#   make install PREFIX=/usr/local
#   make trials           crash trials, long form (bench/results/trials.md)
#   make bench            benchmarks (separate from check; see bench/README.md)

PREFIX ?= /usr/local
CC ?= cc
PKGS = libmongoc-1.0 libbson-1.0 libzstd

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))

CFLAGS ?= -O2 -g
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN += -Werror
endif
ifeq ($(SANITIZE),1)
VARIANT = san
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
VARIANT = plain
SAN =
endif

ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SAN) $(PKG_CFLAGS) -Icommon
ALL_LDFLAGS = $(LDFLAGS) $(SAN)
LIBS = $(PKG_LIBS) -lpthread -lm

OBJ = build/$(VARIANT)
PROGRAMS = $(patsubst filters/%.c,%,$(wildcard filters/*.c))
SCRIPTS = oplogkit-migrate
COMMON_SRC = $(wildcard common/*.c)
COMMON_OBJ = $(patsubst common/%.c,$(OBJ)/common/%.o,$(COMMON_SRC))
UNIT_SRC = $(wildcard tests/unit/*.c)
UNIT_BIN = $(patsubst tests/unit/%.c,$(OBJ)/unit/%,$(UNIT_SRC))
TOOL_SRC = $(wildcard tests/tools/*.c)
TOOL_BIN = $(patsubst tests/tools/%.c,$(OBJ)/tools/%,$(TOOL_SRC))
BINS = $(addprefix bin/,$(PROGRAMS))
# The example application: the demo's and the benchmarks' write load.
EXAMPLE_BINS = bin/oplogkit-loadgen

all: $(BINS) $(EXAMPLE_BINS) $(UNIT_BIN) $(TOOL_BIN)

# bin/ holds the last variant built. build/variant names it, rewritten
# (so newer than every program) as make starts with the other one: the
# programs relink. A stamp made by a rule was not enough: under
# .SECONDARY make could skip the relink once after a switch.
VARIANT_STAMP = build/variant
$(shell mkdir -p build && { [ "$$(cat $(VARIANT_STAMP) 2>/dev/null)" = $(VARIANT) ] || echo $(VARIANT) >$(VARIANT_STAMP); })

$(OBJ)/common/%.o: common/%.c common/*.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(OBJ)/filters/%.o: filters/%.c common/*.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(OBJ)/libcommon.a: $(COMMON_OBJ)
	rm -f $@
	ar rcs $@ $^

bin/%: $(OBJ)/filters/%.o $(OBJ)/libcommon.a $(VARIANT_STAMP)
	@mkdir -p bin
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(OBJ)/libcommon.a $(LIBS)

# oplog-apply is one program in several files: filters/apply/*.c are its parts.
APPLY_OBJ = $(patsubst filters/apply/%.c,$(OBJ)/apply/%.o,$(wildcard filters/apply/*.c))

$(OBJ)/apply/%.o: filters/apply/%.c filters/apply/*.h common/*.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(OBJ)/filters/oplog-apply.o: filters/apply/*.h

bin/oplog-apply: $(OBJ)/filters/oplog-apply.o $(APPLY_OBJ) $(OBJ)/libcommon.a $(VARIANT_STAMP)
	@mkdir -p bin
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(APPLY_OBJ) $(OBJ)/libcommon.a $(LIBS)

# entry-proxy is one program in several files: filters/proxy/*.c are its parts.
PROXY_OBJ = $(patsubst filters/proxy/%.c,$(OBJ)/proxy/%.o,$(wildcard filters/proxy/*.c))

$(OBJ)/proxy/%.o: filters/proxy/%.c filters/proxy/*.h common/*.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(OBJ)/filters/entry-proxy.o: filters/proxy/*.h

bin/entry-proxy: $(OBJ)/filters/entry-proxy.o $(PROXY_OBJ) $(OBJ)/libcommon.a $(VARIANT_STAMP)
	@mkdir -p bin
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(PROXY_OBJ) $(OBJ)/libcommon.a $(LIBS)

# The other programs in several files: filters/PROGRAM.c is the command
# line, filters/DIR/*.c the engine ($(call parts,PROGRAM,DIR)).
define parts
$(1)_OBJ = $$(patsubst filters/$(2)/%.c,$$(OBJ)/$(2)/%.o,$$(wildcard filters/$(2)/*.c))

$$(OBJ)/$(2)/%.o: filters/$(2)/%.c filters/$(2)/*.h common/*.h
	@mkdir -p $$(dir $$@)
	$$(CC) $$(ALL_CFLAGS) -c -o $$@ $$<

$$(OBJ)/filters/$(1).o: filters/$(2)/*.h

bin/$(1): $$(OBJ)/filters/$(1).o $$($(1)_OBJ) $$(OBJ)/libcommon.a $$(VARIANT_STAMP)
	@mkdir -p bin
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$< $$($(1)_OBJ) $$(OBJ)/libcommon.a $$(LIBS)
endef

$(eval $(call parts,oplog-read,read))
$(eval $(call parts,snap-export,export))
$(eval $(call parts,snap-import,import))
$(eval $(call parts,sync-check,check))
$(eval $(call parts,entry-switch,switch))
$(eval $(call parts,source-retire,retire))
$(eval $(call parts,oplog-filter,filter))
$(eval $(call parts,migrate-report,report))

bin/oplogkit-loadgen: examples/loadgen.c $(OBJ)/libcommon.a $(VARIANT_STAMP) common/*.h
	@mkdir -p bin
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(OBJ)/libcommon.a $(LIBS)

$(OBJ)/unit/%: tests/unit/%.c $(OBJ)/libcommon.a common/*.h tests/unit/lib/*.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(OBJ)/libcommon.a $(LIBS)

# Test tools; mongo-cmd, the tests' oracle, uses none of libcommon on purpose.
$(OBJ)/tools/%: tests/tools/%.c $(OBJ)/libcommon.a common/*.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(OBJ)/libcommon.a $(LIBS)

# libFuzzer harnesses (tests/fuzz/*.c) with clang, ASan and UBSan, over
# the common sources compiled the same way; see tests/fuzz/README.
FUZZ_CC = clang
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) -g -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -Icommon
FUZZ_OBJ = build/fuzz
FUZZ_NAMES = $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS = $(addprefix $(FUZZ_OBJ)/,$(FUZZ_NAMES))
FUZZ_TIME ?= 60

$(FUZZ_OBJ)/common/%.o: common/%.c common/*.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_OBJ)/libcommon.a: $(patsubst common/%.c,$(FUZZ_OBJ)/common/%.o,$(COMMON_SRC))
	rm -f $@
	ar rcs $@ $^

$(FUZZ_OBJ)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/*.h $(FUZZ_OBJ)/libcommon.a common/*.h
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ)/libcommon.a $(LIBS)

# fuzz_filter links oplog-filter's engine (filters/filter/), compiled the same way.
FUZZ_FILTER_OBJ = $(patsubst filters/filter/%.c,$(FUZZ_OBJ)/filter/%.o,$(wildcard filters/filter/*.c))

$(FUZZ_OBJ)/filter/%.o: filters/filter/%.c filters/filter/*.h common/*.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_OBJ)/fuzz_filter: tests/fuzz/fuzz_filter.c $(FUZZ_FILTER_OBJ) $(FUZZ_OBJ)/libcommon.a common/*.h filters/filter/*.h
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_FILTER_OBJ) $(FUZZ_OBJ)/libcommon.a $(LIBS)

fuzz: $(FUZZ_BINS)

# Each harness for FUZZ_TIME seconds over a corpus seeded from the fixtures.
fuzz-short: fuzz all
	tests/fuzz/run $(FUZZ_TIME) $(FUZZ_NAMES)

# tests/run builds with -k itself, so one broken program still lets the
# rest be tested (and counts as a failure).
check:
	OPLOGKIT_UNIT_DIR=$(CURDIR)/$(OBJ)/unit tests/run

demo: all
	bin/oplogkit-demo

# Crash trials, long form: 50 kills of a live migration (tests/trials.sh).
trials: all
	tests/trials.sh -n 50 -o bench/results/trials.md

bench: all
	bench/run

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin
	for s in $(SCRIPTS); do [ ! -f bin/$$s ] || install -m 755 bin/$$s $(DESTDIR)$(PREFIX)/bin; done
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1

clean:
	rm -rf build $(BINS) $(EXAMPLE_BINS)

.PHONY: all check demo trials bench install clean fuzz fuzz-short
.SECONDARY:
