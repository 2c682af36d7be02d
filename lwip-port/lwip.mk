# lwIP 2.1.3 for mptun-cpe, built from Debian's `lwip` source package with
# lwip-port/lwipopts.h. Included by the top Makefile after BUILD, CC and
# CFLAGS are set; gives $(BUILD)/liblwip.a, and LWIP_INC for code that
# includes lwIP headers.
#
# The tree is fetched once into build/lwip-src (lwip-port/fetch-lwip) and
# shared by every build directory. `make LWIP_SRC=/path/to/lwip-2.1.3` (or
# LWIP_SRC in the environment) uses that tree instead and never fetches.

LWIP_CACHE := build/lwip-src
ifeq ($(origin LWIP_SRC),undefined)
LWIP_FETCH := yes
endif
LWIP_SRC ?= $(LWIP_CACHE)/lwip-2.1.3
LWIP_STAMP := $(LWIP_SRC)/src/include/lwip/tcp.h

# Option switches for lwipopts.h, e.g. make LWIP_OPTS=-DMPTUN_LWIP_DEBUG
# or -DMPTUN_MAX_FLOWS=N. They change lwIP's structures, so they travel in
# LWIP_INC: liblwip.a and every file that includes lwIP headers must agree.
LWIP_OPTS ?=
# -isystem: warnings in lwIP's headers are not ours to fix, and code built
# with -Werror includes them.
LWIP_INC = -Ilwip-port -isystem $(LWIP_SRC)/src/include $(LWIP_OPTS)

# NO_SYS TCP over IPv4 and IPv6 on a netif without a link layer; relative
# to $(LWIP_SRC)/src. Everything else (UDP, DHCP, DNS, ARP, MLD, fragments,
# the APIs that need a thread) is off in lwipopts.h.
LWIP_FILES := \
	core/def.c core/inet_chksum.c core/init.c core/ip.c core/mem.c \
	core/memp.c core/netif.c core/pbuf.c core/stats.c core/tcp.c \
	core/tcp_in.c core/tcp_out.c core/timeouts.c \
	core/ipv4/icmp.c core/ipv4/ip4.c core/ipv4/ip4_addr.c \
	core/ipv6/icmp6.c core/ipv6/ip6.c core/ipv6/ip6_addr.c core/ipv6/nd6.c

LWIP_PORT_H := lwip-port/lwipopts.h lwip-port/arch/cc.h
# Third-party code: our flags (sanitizers, -O, -g) but none of our warnings.
LWIP_CFLAGS = -std=gnu11 -w $(LWIP_INC)
LWIP_PORT_CFLAGS = -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror $(LWIP_INC)

ifdef LWIP_FETCH
$(LWIP_STAMP):
	lwip-port/fetch-lwip $(LWIP_SRC)
else
$(LWIP_STAMP):
	@echo "LWIP_SRC=$(LWIP_SRC) is not an lwIP tree (no src/include/lwip/tcp.h)" >&2
	@exit 1
endif

# The sources exist once the tree does; order-only, so their dates never
# force a rebuild.
$(LWIP_FILES:%=$(LWIP_SRC)/src/%): | $(LWIP_STAMP)

# $(call lwip_rules,DIR,CC-VAR,CFLAGS-VAR): DIR/liblwip.a compiled with the
# compiler and flags named by the variables (names, so they are read when
# the recipe runs). The fuzz build may add its own:
#   $(eval $(call lwip_rules,build-fuzz,CLANG,FUZZ_FLAGS))
define lwip_rules
$(1)/lwip/%.o: $$(LWIP_SRC)/src/%.c $$(LWIP_PORT_H) | $$(LWIP_STAMP)
	@mkdir -p $$(@D)
	$$($(2)) $$($(3)) $$(LWIP_CFLAGS) -c -o $$@ $$<

$(1)/lwip/sys_arch.o: lwip-port/sys_arch.c $$(LWIP_PORT_H) | $$(LWIP_STAMP)
	@mkdir -p $$(@D)
	$$($(2)) $$($(3)) $$(LWIP_PORT_CFLAGS) -c -o $$@ $$<

$(1)/liblwip.a: $$(LWIP_FILES:%.c=$(1)/lwip/%.o) $(1)/lwip/sys_arch.o
	rm -f $$@
	ar rcs $$@ $$^
endef

$(eval $(call lwip_rules,$(BUILD),CC,CFLAGS))
