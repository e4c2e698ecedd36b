# smsq: one non-recursive Makefile.
#
#   make            build bin/ (optimised)           make test   build with ASan+UBSan, run all tests
#   make demo       the main job (scripts/demo)      make bench  benchmarks (bench/run)
#   make clean      remove build/ and bin/           make V=1    show full commands
#   make install    programs, library, man pages, config, units (PREFIX=/usr/local DESTDIR=)
#   make deb        Debian packages in build/deb/, checked by lintian (docs/INSTALL.md)
#   make lib        the producer library in build/rel/lib/   make man  the man pages
#   make SANITIZE=address,undefined   sanitized build into build/san/bin
#   make fuzz       libFuzzer targets (fuzz/*.c) built with clang into build/fuzz/,
#                   each run FUZZ_SECONDS (60); FUZZ_TARGETS=jscan runs one
#   make DEVOPTS=no-error             drop -Werror (unknown compiler)
#
# The first thing any target does is scripts/install-deps (idempotent, quiet
# when every package is present), so that on a fresh Debian 12 machine
# `make test` and `make demo` are the only commands a user types.

SHELL := /bin/bash
# smsq's version: the packages', smsq-producer.pc's, the man pages' (make deb
# checks that debian/changelog says the same).  The library's ABI has its
# own (LIBP_SOVERSION below).
VERSION := 0.2.0
CC ?= cc
CXX ?= c++
SANITIZE ?=
DEVOPTS ?=
# Build root: B=build-x builds into build-x/ (its own bin/ too), so two builds
# of one tree (a bench beside a test run) do not race on the same objects.
B ?= build

ifeq ($(SANITIZE),)
O := $(B)/rel
BIN := $(if $(filter build,$(B)),bin,$(B)/bin)
OPTFLAGS := -O2
else
O := $(B)/san
BIN := $(B)/san/bin
OPTFLAGS := -O1 -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
endif
GEN := $(O)/gen

WARN := -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wvla \
	-Wwrite-strings -Wshadow -Wformat=2 -fno-common
ifneq ($(DEVOPTS),no-error)
WARN += -Werror
endif

# Default place of the text templates (ingest.templates_dir), like a datadir:
# the checkout's for the programs of bin/ (tests and the demo use them);
# make install builds in a tree of its own with the installed path instead.
TEMPLATES_DIR = $(CURDIR)/etc/templates
PATHS := -DSMSQ_TEMPLATES_DIR='"$(TEMPLATES_DIR)"' -DSMSQ_VERSION='"$(VERSION)"'
ALL_CFLAGS := -std=gnu11 -g $(OPTFLAGS) $(WARN) -MMD -MP -I. -I$(GEN) $(PATHS) $(CPPFLAGS) $(CFLAGS)
# C++ only where a C++ library sits behind a C interface (text/phone.cc).
ALL_CXXFLAGS := -std=gnu++17 -g $(OPTFLAGS) $(filter-out -Wstrict-prototypes -Wmissing-prototypes,$(WARN)) \
	-MMD -MP -I. -I$(GEN) $(CPPFLAGS) $(CXXFLAGS)
ALL_LDFLAGS := $(OPTFLAGS) -Wl,--as-needed $(LDFLAGS)
LIBS := -lzmq -lcurl -llmdb -lprotobuf-c -ljansson -linih -lmicrohttpd -lcrypto -lsodium -lhiredis \
	-lphonenumber -lprotobuf -lre2 -licui18n -licuuc -lstdc++ -lm

ifeq ($(V),1)
Q :=
QP := @true
else
Q := @
QP := @printf '  %-7s %s\n'
endif

# Sources: every module .c in these folders goes into one archive; a file
# named *_main.c holds a program's main() and becomes bin/<program>.
SRC_DIRS := common store text provider worker watch outcome ctl producer fake bench
LIB_SRC := $(filter-out %_main.c,$(wildcard $(addsuffix /*.c,$(SRC_DIRS))))
LIB_SRC_CXX := $(wildcard $(addsuffix /*.cc,$(SRC_DIRS)))
# Assembly only to build a file into a program (.incbin: watch/status_page.S).
LIB_SRC_S := $(wildcard $(addsuffix /*.S,$(SRC_DIRS)))
PROTO_SRC := proto/booking.proto
PROTO_C := $(GEN)/proto/booking.pb-c.c
PROTO_H := $(GEN)/proto/booking.pb-c.h
LIB_OBJ := $(LIB_SRC:%.c=$(O)/%.o) $(LIB_SRC_CXX:%.cc=$(O)/%.o) $(LIB_SRC_S:%.S=$(O)/%.o) \
	$(PROTO_C:$(GEN)/%.c=$(O)/gen/%.o)
CORE_A := $(O)/libsmsq-core.a

PROGRAMS := smsq-worker smsq-publish smsqctl smsq-fakeprovider smsq-bench-publish
MAIN_smsq-worker := worker/worker_main.c
MAIN_smsq-publish := producer/publish_main.c
MAIN_smsqctl := ctl/smsqctl_main.c
MAIN_smsq-fakeprovider := fake/fakeprovider_main.c
MAIN_smsq-bench-publish := bench/benchpub_main.c
PROGRAMS := $(foreach p,$(PROGRAMS),$(if $(wildcard $(MAIN_$(p))),$(p)))
PROG_BIN := $(PROGRAMS:%=$(BIN)/%)

TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(O)/tests/%)

DEPS_STAMP := build/.deps-installed

.PHONY: all test check demo bench clean deps hdr-check test-build lib man \
	install install-build installable install-here deb fuzz fuzz-build
.DEFAULT_GOAL := all

all: $(PROG_BIN)

deps: $(DEPS_STAMP)
# INSTALL_DEPS=: skips it (a Debian package build has its Build-Depends).
INSTALL_DEPS = scripts/install-deps
$(DEPS_STAMP): scripts/install-deps
	$(Q)$(INSTALL_DEPS)
	$(Q)mkdir -p $(@D) && touch $@

# Rebuild everything when the flags change (git's GIT-CFLAGS).
FLAGS_FILE := $(O)/.flags
FLAGS_NOW := $(CC) $(ALL_CFLAGS) $(CXX) $(ALL_CXXFLAGS) $(ALL_LDFLAGS) $(LIBS)
$(FLAGS_FILE): FORCE | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@if [ "$$(cat $@ 2>/dev/null)" != '$(FLAGS_NOW)' ]; then echo '$(FLAGS_NOW)' > $@; fi
.PHONY: FORCE
FORCE:

$(PROTO_C) $(PROTO_H) &: $(PROTO_SRC) | $(DEPS_STAMP)
	$(QP) PROTOC $<
	$(Q)mkdir -p $(GEN)
	$(Q)protoc-c --c_out=$(GEN) $<

$(O)/gen/%.o: $(GEN)/%.c $(FLAGS_FILE)
	$(QP) CC $<
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -c -o $@ $<

$(O)/%.o: %.c $(FLAGS_FILE) | $(PROTO_H)
	$(QP) CC $<
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(O)/%.o: %.S $(FLAGS_FILE)
	$(QP) AS $<
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -c -MMD -MP -o $@ $<
$(O)/watch/status_page.o: watch/status.html

$(O)/%.o: %.cc $(FLAGS_FILE) | $(PROTO_H)
	$(QP) CXX $<
	$(Q)mkdir -p $(@D)
	$(Q)$(CXX) $(ALL_CXXFLAGS) -c -o $@ $<

$(CORE_A): $(LIB_OBJ)
	$(QP) AR $@
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN)/%: $(CORE_A) $(FLAGS_FILE)
	$(QP) LINK $@
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(O)/$(MAIN_$*:.c=.o) $(CORE_A) $(LIBS)
$(foreach p,$(PROGRAMS),$(eval $(BIN)/$(p): $(O)/$(MAIN_$(p):.c=.o)))

# A test may name the library calls it wraps (cmocka's --wrap mocks) in a
# first-line comment:   /* WRAP: mdb_txn_commit zmq_msg_send */
$(O)/tests/%: tests/%.c $(CORE_A) $(FLAGS_FILE) | $(PROTO_H)
	$(QP) TEST $@
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(CORE_A) \
		$$(sed -n '1s/.*WRAP:\(.*\)\*\/.*/\1/p' $< | xargs -rn1 printf -- '-Wl,--wrap=%s ') \
		-lcmocka $(LIBS)

test-build: $(PROG_BIN) $(TEST_BIN)

# The README's test command: everything built with AddressSanitizer and
# UndefinedBehaviorSanitizer, then unit tests and integration tests.
test: $(DEPS_STAMP)
	$(Q)$(MAKE) --no-print-directory SANITIZE=address,undefined test-build
	$(Q)SMSQ_BIN=$(B)/san/bin SMSQ_TESTS=$(B)/san/tests tests/run $(T)
check: test

demo: all
	$(Q)scripts/demo

bench: all
	$(Q)bench/run

# Every header compiles on its own.
hdr-check: $(PROTO_H)
	$(Q)for h in $$(git ls-files '*.h'); do \
		echo "#include \"$$h\"" | $(CC) $(ALL_CFLAGS) -MF /dev/null -x c -fsyntax-only - || exit 1; done

# The producer library: producer/smsq_producer.c and what it uses (the error
# formatter, the protobuf-c code of booking.proto), as libsmsq-producer.a and
# libsmsq-producer.so.1, from -fPIC objects of their own.  Only the API of
# producer/smsq_producer.h is exported: its version script lists it, the
# shared library exports nothing else, and the archive holds one object
# whose other symbols are local, so that a program linking it statically may
# define err_set() or compile booking.proto itself without a clash.
LIBP_SOVERSION := 1
LIBP_VERSION := $(LIBP_SOVERSION).1.0
LIBP_SONAME := libsmsq-producer.so.$(LIBP_SOVERSION)
LIBP_MAP := producer/smsq_producer.map
LIBP_OBJ := $(O)/pic/producer/smsq_producer.o $(O)/pic/common/err.o \
	$(O)/pic/gen/proto/booking.pb-c.o
LIBP_A := $(O)/lib/libsmsq-producer.a
LIBP_SO := $(O)/lib/libsmsq-producer.so.$(LIBP_VERSION)
LIBP_LIBS := -lzmq -lprotobuf-c
OBJCOPY ?= objcopy

$(O)/pic/gen/%.o: $(GEN)/%.c $(FLAGS_FILE)
	$(QP) CC $@
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -fPIC -Wno-missing-prototypes -c -o $@ $<

$(O)/pic/%.o: %.c $(FLAGS_FILE) | $(PROTO_H)
	$(QP) CC $@
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -fPIC -c -o $@ $<

$(LIBP_SO): $(LIBP_OBJ) $(LIBP_MAP)
	$(QP) LINK $@
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) -shared -Wl,-soname,$(LIBP_SONAME) -Wl,--version-script=$(LIBP_MAP) \
		$(if $(SANITIZE),,-Wl,--no-undefined) $(ALL_LDFLAGS) -o $@ $(LIBP_OBJ) $(LIBP_LIBS)

$(LIBP_A): $(LIBP_OBJ) $(LIBP_MAP)
	$(QP) AR $@
	$(Q)mkdir -p $(@D)
	$(Q)$(LD) -r -o $(@:.a=.o) $(LIBP_OBJ)
	$(Q)sed -n 's/^[[:space:]]*\(smsq_[a-z_]*\);$$/\1/p' $(LIBP_MAP) >$(@:.a=.syms)
	$(Q)$(OBJCOPY) --keep-global-symbols=$(@:.a=.syms) $(@:.a=.o)
	$(Q)rm -f $@ && ar rcs $@ $(@:.a=.o)

lib: $(LIBP_A) $(LIBP_SO)

# Installation directories.  PREFIX=/usr is a distribution's: configuration
# in /etc, units where systemd's pkg-config file says.  Any of them can be
# set on the command line (make install libdir=/usr/lib/x86_64-linux-gnu).
PREFIX = /usr/local
bindir = $(PREFIX)/bin
sbindir = $(PREFIX)/sbin
libdir = $(PREFIX)/lib
includedir = $(PREFIX)/include
datadir = $(PREFIX)/share
mandir = $(datadir)/man
docdir = $(datadir)/doc/smsq
templatesdir = $(datadir)/smsq/templates
sysconfdir = $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
systemd_var = $(if $(filter /usr,$(PREFIX)),$(shell pkg-config --variable=$(1) systemd 2>/dev/null))
systemdunitdir = $(or $(call systemd_var,systemdsystemunitdir),$(PREFIX)/lib/systemd/system)
sysusersdir = $(or $(call systemd_var,sysusersdir),$(PREFIX)/lib/sysusers.d)
INSTALL_DIRS = PREFIX bindir sbindir libdir includedir datadir mandir docdir templatesdir \
	sysconfdir systemdunitdir sysusersdir

# Files made from a .in template get the paths above (@sbindir@...); they
# are remade when a path changes (git's GIT-PREFIX).
PATHS_FILE := $(O)/.paths
PATHS_NOW = $(VERSION) $(foreach d,$(INSTALL_DIRS),$(d)=$($(d)))
SUBST = sed $(foreach d,VERSION $(INSTALL_DIRS),-e 's|@$(d)@|$($(d))|g')
$(PATHS_FILE): FORCE
	@mkdir -p $(@D)
	@if [ "$$(cat $@ 2>/dev/null)" != '$(PATHS_NOW)' ]; then echo '$(PATHS_NOW)' >$@; fi

$(O)/%: %.in $(PATHS_FILE)
	$(QP) GEN $@
	$(Q)mkdir -p $(@D)
	$(Q)$(SUBST) $< >$@.tmp
	$(Q)if grep -n '@[A-Za-z_]*@' $@.tmp; then echo "$<: unknown @name@ above" >&2; exit 1; fi
	$(Q)mv $@.tmp $@

# Man pages, written in scdoc.  smsq.conf(5) takes its option list from the
# configuration table itself (smsq-worker --help-config, scripts/man-options)
# at the place of its @OPTIONS@ line, so that it cannot drift from the code.
MAN_SRC := $(wildcard docs/man/*.scd)
MAN := $(MAN_SRC:docs/man/%.scd=$(O)/man/%)

$(O)/man/%: docs/man/%.scd $(PATHS_FILE) | $(DEPS_STAMP)
	$(QP) SCDOC $@
	$(Q)mkdir -p $(@D)
	$(Q)set -o pipefail; $(SUBST) $< | scdoc >$@.tmp
	$(Q)mv $@.tmp $@

$(O)/man/smsq.conf.5: docs/man/smsq.conf.5.scd scripts/man-options $(BIN)/smsq-worker $(PATHS_FILE)
	$(QP) SCDOC $@
	$(Q)mkdir -p $(@D)
	$(Q)set -o pipefail; $(BIN)/smsq-worker --help-config | scripts/man-options >$@.options
	$(Q)if [ "$$(grep -c '^@OPTIONS@$$' $<)" != 1 ]; then \
		echo "$<: needs one @OPTIONS@ line" >&2; exit 1; fi
	$(Q)set -o pipefail; $(SUBST) $< | sed -e '/^@OPTIONS@$$/{r $@.options' -e 'd;}' \
		| scdoc >$@.tmp
	$(Q)mv $@.tmp $@

man: $(MAN)

# make install: the programs get the installed paths at build time, so they
# are built in a tree of their own, $(B)/install (the programs of bin/ keep
# the checkout's); then copied under $(DESTDIR).  make install-build only
# builds that tree (debian/rules builds, then installs into its staging
# directory).
INSTALL_MAKE = $(MAKE) --no-print-directory B=$(B)/install SANITIZE= \
	TEMPLATES_DIR='$(templatesdir)'
INSTALL_SBIN := smsq-worker smsqctl
INSTALL_BIN := smsq-publish

CHECK_DIRS = for d in $(foreach d,$(INSTALL_DIRS),'$(d)=$($(d))'); do \
		case "$${d\#*=}" in /*) ;; *) echo "make $@: $${d%%=*} must be an" \
			"absolute path, not '$${d\#*=}'" >&2; exit 2;; esac; \
	done

install-build: $(DEPS_STAMP)
	$(Q)$(CHECK_DIRS)
	+$(Q)$(INSTALL_MAKE) installable
install: $(DEPS_STAMP)
	$(Q)$(CHECK_DIRS)
	+$(Q)$(INSTALL_MAKE) install-here

# (installable and install-here run in that tree, through INSTALL_MAKE.)
installable: $(addprefix $(BIN)/,$(INSTALL_SBIN) $(INSTALL_BIN)) lib man \
	$(O)/etc/systemd/smsq.service $(O)/producer/smsq-producer.pc

install-here: installable
	$(QP) INSTALL '$(DESTDIR)$(PREFIX)'
	$(Q)set -e; D='$(DESTDIR)'; \
	install -d "$$D$(bindir)" "$$D$(sbindir)" "$$D$(libdir)/pkgconfig" "$$D$(includedir)" \
		"$$D$(datadir)/smsq" "$$D$(templatesdir)" "$$D$(sysconfdir)/smsq" "$$D$(docdir)" \
		"$$D$(systemdunitdir)" "$$D$(sysusersdir)"; \
	install -m 0755 $(addprefix $(BIN)/,$(INSTALL_BIN)) "$$D$(bindir)"; \
	install -m 0755 $(addprefix $(BIN)/,$(INSTALL_SBIN)) "$$D$(sbindir)"; \
	install -m 0644 $(LIBP_A) $(LIBP_SO) "$$D$(libdir)"; \
	ln -sf $(notdir $(LIBP_SO)) "$$D$(libdir)/$(LIBP_SONAME)"; \
	ln -sf $(LIBP_SONAME) "$$D$(libdir)/libsmsq-producer.so"; \
	install -m 0644 producer/smsq_producer.h "$$D$(includedir)"; \
	install -m 0644 $(O)/producer/smsq-producer.pc "$$D$(libdir)/pkgconfig"; \
	install -m 0644 proto/booking.proto "$$D$(datadir)/smsq"; \
	for m in $(MAN); do \
		install -d "$$D$(mandir)/man$${m##*.}"; \
		install -m 0644 "$$m" "$$D$(mandir)/man$${m##*.}"; \
	done; \
	install -m 0644 etc/templates/*.tmpl "$$D$(templatesdir)"; \
	conf="$$D$(sysconfdir)/smsq/smsq.conf"; \
	if [ -e "$$conf" ] && ! cmp -s etc/smsq.conf "$$conf"; then \
		echo "make install: kept $$conf (edited); the new sample is $$conf.sample" >&2; \
		conf="$$conf.sample"; \
	fi; \
	install -m 0644 etc/smsq.conf "$$conf"; \
	install -m 0644 $(O)/etc/systemd/smsq.service "$$D$(systemdunitdir)"; \
	install -m 0644 etc/systemd/smsq.sysusers "$$D$(sysusersdir)/smsq.conf"; \
	install -m 0644 README.md docs/INSTALL.md docs/OPERATIONS.md docs/METRICS.md \
		proto/PROTOCOL.md proto/OUTCOMES.md provider/PROVIDERS.md "$$D$(docdir)"; \
	install -d "$$D$(docdir)/examples/prometheus" "$$D$(docdir)/examples/grafana"; \
	install -m 0644 etc/prometheus/*.yml "$$D$(docdir)/examples/prometheus"; \
	install -m 0644 etc/grafana/*.json "$$D$(docdir)/examples/grafana"; \
	install -m 0644 examples/outcomes_receiver.py "$$D$(docdir)/examples"

# Debian packages (debian/), built from a copy of the checkout in
# $(B)/deb/ and checked by lintian; see scripts/deb.
deb: $(DEPS_STAMP)
	$(Q)scripts/deb $(B)/deb $(VERSION)

# Fuzzing: each fuzz/NAME.c is a libFuzzer target NAME, its seeds in
# fuzz/corpus/NAME/.  The project's objects are built again by clang with
# -fsanitize=fuzzer-no-link,address,undefined (this Makefile's own rules,
# in a build root of their own, build/fuzz/san/), each target linked with
# -fsanitize=fuzzer by clang++ (text/phone.cc and ICU are C++).  fuzz/run
# runs each for FUZZ_SECONDS; what it finds goes to build/fuzz/corpus/NAME
# (inputs that reach new code) and build/fuzz/artifacts/ (crashes, leaks,
# timeouts), never into fuzz/.  FUZZ_FLAGS: more libFuzzer options.
# clang warns about what gcc does not (a va_list format): -Wno-format-nonliteral.
FUZZ_ALL := $(patsubst fuzz/%.c,%,$(wildcard fuzz/*.c))
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_SECONDS ?= 60
FUZZ_FLAGS ?=
FUZZ_CC ?= clang
FUZZ_CXX ?= clang++
FUZZ_B := build/fuzz
FUZZ_MAKE = $(MAKE) --no-print-directory B=$(FUZZ_B) CC=$(FUZZ_CC) CXX=$(FUZZ_CXX) \
	SANITIZE=fuzzer-no-link,address,undefined CFLAGS=-Wno-format-nonliteral CXXFLAGS=

fuzz: $(DEPS_STAMP)
	$(Q)for t in $(FUZZ_TARGETS); do case " $(FUZZ_ALL) " in *" $$t "*) ;; \
		*) echo "make fuzz: no target $$t (fuzz/$$t.c); there are: $(FUZZ_ALL)" >&2; \
		exit 2;; esac; done
	+$(Q)$(FUZZ_MAKE) fuzz-build FUZZ_TARGETS='$(FUZZ_TARGETS)'
	$(Q)fuzz/run $(FUZZ_B) $(FUZZ_SECONDS) '$(FUZZ_FLAGS)' $(FUZZ_TARGETS)

# (run by make fuzz in build/fuzz's tree, through FUZZ_MAKE.)
fuzz-build: $(FUZZ_TARGETS:%=$(O)/fuzz/%)
.SECONDARY: $(FUZZ_ALL:%=$(O)/fuzz/%.o)

$(O)/fuzz/%: $(O)/fuzz/%.o $(CORE_A) $(FLAGS_FILE)
	$(QP) FUZZ $@
	$(Q)$(CXX) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $< $(CORE_A) $(LIBS)

clean:
	rm -rf $(B) bin

-include $(shell find $(O) -name '*.d' 2>/dev/null)
