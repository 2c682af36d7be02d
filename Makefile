# mptun — see README.md. `make deps` installs what everything below needs.
PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
CLANG   ?= clang
CFLAGS  ?= -O2 -g
FUZZ_SECONDS ?= 20

PKGS     := yaml-0.1 libcares libnl-3.0 libnl-genl-3.0 libnl-route-3.0 libsodium libcap \
            libmicrohttpd jansson libnftables
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -Ilib -Ilwip-port $(WARN) $(PKG_CFLAGS)

ifeq ($(SAN),1)
BUILD   ?= build-san
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
else
BUILD   ?= build
endif

.DEFAULT_GOAL := all
include lwip-port/lwip.mk

# lwip-port/: the flow NAT and the TUN seam are plain C and go with lib/;
# the CPE's own files (the lwIP glue, its counters and control answers)
# form libcpe.a.
PORT_LWIP := lwip-port/stack.c lwip-port/cpe_flow.c lwip-port/cpe_flow_view.c \
	lwip-port/cpe_stats.c lwip-port/cpe_ctl.c
PORT_PURE := lwip-port/flownat.c lwip-port/tun.c lwip-port/vnet.c
LIB_SRC  := $(wildcard lib/*.c) $(PORT_PURE)
# lib/webui_assets.S: the status page's files (web/), as data.
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/lib/webui_assets.o
LIB_A    := $(BUILD)/libmptun.a
CPE_OBJ  := $(PORT_LWIP:%.c=$(BUILD)/%.o)
CPE_A    := $(BUILD)/libcpe.a
DAEMONS  := $(BUILD)/mptun-concentrator $(BUILD)/mptun-cpe
CTL      := $(BUILD)/mptunctl
TOOLS    := $(patsubst tests/tools/%.c,$(BUILD)/%,$(wildcard tests/tools/*.c))
UNIT     := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BUILD := build-fuzz
FUZZ     := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRC))
FUZZ_FLAGS := -std=gnu11 -D_GNU_SOURCE -Ilib -Ilwip-port -g -O1 $(PKG_CFLAGS) \
	-fsanitize=address,undefined -fno-sanitize-recover=all

# Keep the fuzzers' objects between runs.
.SECONDARY:

.PHONY: all tools unit fuzz fuzz-run check check-unit check-netns install uninstall deps clean distclean bench demo

all: $(DAEMONS) $(CTL) tools

tools: $(TOOLS)

HEADERS := $(wildcard lib/*.h lwip-port/*.h)

$(BUILD)/lib/%.o: lib/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/lib/webui_assets.o: lib/webui_assets.S $(wildcard web/*)
	@mkdir -p $(@D)
	$(CC) -c -o $@ $<

$(BUILD)/lwip-port/flownat.o $(BUILD)/lwip-port/tun.o $(BUILD)/lwip-port/vnet.o: $(BUILD)/lwip-port/%.o: lwip-port/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -c -o $@ $<

$(CPE_OBJ): $(BUILD)/lwip-port/%.o: lwip-port/%.c $(HEADERS) $(LWIP_PORT_H) | $(LWIP_STAMP)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(LWIP_INC) $(CFLAGS) -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(CPE_A): $(CPE_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/mptun-concentrator: cmd/mptun-concentrator/main.c $(LIB_A)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(PKG_LIBS) -lpthread

$(BUILD)/mptun-cpe: cmd/mptun-cpe/main.c $(CPE_A) $(LIB_A) $(BUILD)/liblwip.a
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(CPE_A) $(LIB_A) \
		$(BUILD)/liblwip.a $(PKG_LIBS)

# mptunctl uses nothing of lib/: libcurl and jansson only.
$(CTL): $(wildcard cmd/mptunctl/*.c) cmd/mptunctl/mptunctl.h
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c,$^) \
		$(shell pkg-config --libs libcurl jansson) -lm

$(BUILD)/%: tests/tools/%.c $(LIB_A)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(PKG_LIBS) -lpthread

$(BUILD)/tests/%: tests/unit/%.c $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_A) $(PKG_LIBS) \
		$(shell pkg-config --libs cmocka) -lpthread

unit: $(UNIT)

# lwIP's own test needs lwIP's headers and library.
$(BUILD)/tests/test_lwip_build: tests/unit/test_lwip_build.c $(BUILD)/liblwip.a
	@mkdir -p $(@D)
	$(CC) $(BASE_CFLAGS) $(LWIP_INC) $(CFLAGS) $(LDFLAGS) -o $@ $< \
		$(BUILD)/liblwip.a $(shell pkg-config --libs cmocka)

$(FUZZ_BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/lib/webui_assets.o: lib/webui_assets.S $(wildcard web/*)
	@mkdir -p $(@D)
	$(CLANG) -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o) \
		$(FUZZ_BUILD)/lib/webui_assets.o
	$(CLANG) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

# fuzz_cpe_packets: the CPE's packet path over lwIP, all built with clang.
# LWIP_TESTMODE lets it remove lwIP's cyclic timers (each input tears its
# stack down). loop.c, sys_arch.c and cpe_flow.c are built once more with
# the clock, the randomness and the concentrator's socket renamed to the
# target's, so that every timer runs on the fuzzer's time, each input
# replays the same way and an input can play the concentrator; linked
# before liblwip.a, that sys_arch.o is the one used.
FUZZ_LWIP_FLAGS = $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -DLWIP_TESTMODE=1
FUZZ_FAKE := -Dclock_gettime=fuzz_clock_gettime -Dgetrandom=fuzz_getrandom \
	-Dsockopt_mptcp_client=fuzz_mptcp_client -Dconnect=fuzz_connect
FUZZ_FAKE_OBJ := $(FUZZ_BUILD)/fake/lib/loop.o \
	$(FUZZ_BUILD)/fake/lwip-port/sys_arch.o $(FUZZ_BUILD)/fake/lwip-port/cpe_flow.o
FUZZ_CPE_OBJ := $(FUZZ_FAKE_OBJ) $(FUZZ_BUILD)/lwip-port/stack.o \
	$(FUZZ_BUILD)/lwip-port/cpe_flow_view.o \
	$(filter-out $(FUZZ_BUILD)/lib/loop.o,$(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)) \
	$(FUZZ_BUILD)/lib/webui_assets.o \
	$(FUZZ_BUILD)/liblwip.a

$(eval $(call lwip_rules,$(FUZZ_BUILD),CLANG,FUZZ_LWIP_FLAGS))

$(FUZZ_BUILD)/lwip-port/stack.o $(FUZZ_BUILD)/lwip-port/cpe_flow_view.o: \
		$(FUZZ_BUILD)/lwip-port/%.o: lwip-port/%.c $(HEADERS) $(LWIP_PORT_H) | $(LWIP_STAMP)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_LWIP_FLAGS) $(LWIP_INC) -c -o $@ $<

$(FUZZ_FAKE_OBJ): $(FUZZ_BUILD)/fake/%.o: %.c $(HEADERS) $(LWIP_PORT_H) | $(LWIP_STAMP)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_LWIP_FLAGS) $(FUZZ_FAKE) $(LWIP_INC) -c -o $@ $<

$(FUZZ_BUILD)/fuzz_cpe_packets: tests/fuzz/fuzz_cpe_packets.c $(FUZZ_CPE_OBJ)
	$(CLANG) $(FUZZ_LWIP_FLAGS) $(LWIP_INC) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS)

fuzz: $(FUZZ)

# Run every fuzz target for FUZZ_SECONDS over its seed corpus.
fuzz-run: fuzz
	tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS)

check-unit:
	$(MAKE) SAN=1 all unit
	tests/unit/run build-san

check-netns:
	$(MAKE) SAN=1 all
	tests/netns/run build-san

# Everything under ASan+UBSan: unit tests, fuzzers, the netns suite.
check:
	$(MAKE) SAN=1 all unit
	$(MAKE) fuzz
	tests/check build-san $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: all
	bench/concentrator $(BUILD)
	bench/cpe $(BUILD)
	bench/paths $(BUILD)
	bench/speed $(BUILD)

demo: all
	tests/netns/demo $(BUILD)
	tests/netns/demo-cpe $(BUILD)

# make install [PREFIX=/usr] [DESTDIR=stage]: binaries, systemd units (their
# @BINDIR@ filled in), the sysusers.d file that creates user mptun, man
# pages, example configs; the configs are copied to /etc/mptun only where no
# file is (an operator's config is never overwritten). `make uninstall`
# removes what install put there, except the configs in /etc/mptun.
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
EXAMPLEDIR ?= $(PREFIX)/share/mptun/examples
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
CONFDIR    ?= /etc/mptun
UNITS      := mptun-concentrator.service mptun-cpe.service
MAN5       := man/mptun.yaml.5
MAN8       := man/mptun-concentrator.8 man/mptun-cpe.8 man/mptunctl.8
CONFIGS    := concentrator.yaml cpe.yaml
INSTALL_BIN = $(DAEMONS) $(CTL)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(EXAMPLEDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(CONFDIR)
	install -m 755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/
	install -m 644 $(addprefix configs/,$(CONFIGS)) $(DESTDIR)$(EXAMPLEDIR)/
	for u in $(UNITS); do \
		sed 's|@BINDIR@|$(BINDIR)|g' dist/systemd/$$u.in >$(DESTDIR)$(UNITDIR)/$$u.tmp && \
		chmod 644 $(DESTDIR)$(UNITDIR)/$$u.tmp && \
		mv $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
	install -m 644 dist/sysusers.d/mptun.conf $(DESTDIR)$(SYSUSERSDIR)/mptun.conf
	install -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	install -m 644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	for c in $(CONFIGS); do \
		[ -e $(DESTDIR)$(CONFDIR)/$$c ] || \
		install -m 644 configs/$$c $(DESTDIR)$(CONFDIR)/$$c || exit 1; \
	done

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,mptun-concentrator mptun-cpe mptunctl) \
		$(addprefix $(DESTDIR)$(EXAMPLEDIR)/,$(CONFIGS)) \
		$(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) \
		$(DESTDIR)$(SYSUSERSDIR)/mptun.conf \
		$(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(MAN5))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MAN8)))
	rmdir $(DESTDIR)$(EXAMPLEDIR) $(DESTDIR)$(PREFIX)/share/mptun 2>/dev/null || true

# Debian packages: the list is scripts/debian-packages.
deps:
	scripts/run deps

# Keeps the fetched lwIP tree (build/lwip-src); `make distclean` drops it.
clean:
	rm -rf $(filter-out build/lwip-src,$(wildcard build/*)) build-san $(FUZZ_BUILD)

distclean:
	rm -rf build build-san $(FUZZ_BUILD)
