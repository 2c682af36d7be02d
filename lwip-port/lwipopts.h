/*
 * lwIP 2.1.3 options for mptun-cpe. lwIP reads this file first (from
 * lwip/opt.h); anything not set here keeps opt.h's default. The CPE runs
 * lwIP as a TCP endpoint behind a TUN device and the flow NAT: one netif, no
 * link layer, no UDP/DNS/DHCP, everything in the one event-loop thread.
 *
 * Compile-time knobs:
 *   -DMPTUN_MAX_FLOWS=N   the TCP pcb pool size (MEMP_NUM_TCP_PCB)
 *   -DMPTUN_LWIP_DEBUG    lwIP's own debug output (to stderr) for TCP and IP
 *
 * Every name below exists in 2.1.3's src/include/lwip/opt.h except where a
 * comment names the header that reads it.
 */
#ifndef MPTUN_LWIPOPTS_H
#define MPTUN_LWIPOPTS_H

/* ---- system ---- */

/* No OS layer: no threads, semaphores or mailboxes; the raw API only. */
#define NO_SYS 1
/* Everything runs in the event loop's thread, so nothing needs a lock. */
#define SYS_LIGHTWEIGHT_PROT 0
/* The loop calls sys_check_timeouts(); lwIP keeps its own timer list. */
#define LWIP_TIMERS 1
/* lwIP's TCP clock: delayed ACKs leave within one tick, and RTT and RTO
 * count in ticks of twice this. A LAN round trip measures 0 ticks, so the
 * retransmission timeout settles at 3 ticks: 300 ms here, 1.5 s with
 * opt.h's 250 (a LAN segment lost beyond fast retransmit's reach stalled
 * its flow that long). The timers walk every pcb per tick. */
#define TCP_TMR_INTERVAL 50
/* The sequential and socket APIs need a tcpip thread; mptun uses raw tcp_*. */
#define LWIP_NETCONN 0
#define LWIP_SOCKET  0

/* ---- memory ---- */

/* lwIP's heap is malloc(): memory grows with the flows actually open. */
#define MEM_LIBC_MALLOC 1
/* Pools (pcbs, segments, pbufs) are malloc'd per element, not static arrays
 * sized for the worst case; the daemon caps the number of flows itself. */
#define MEMP_MEM_MALLOC 1
/* malloc() returns 16-byte aligned blocks; 8 keeps lwIP's structures and
 * pbuf payloads naturally aligned on 64-bit. */
#define MEM_ALIGNMENT 8
/* The flow cap, as lwIP knows it. With MEMP_MEM_MALLOC lwIP neither
 * reserves nor enforces it (memp.c mallocs each pcb; init.c wants >= 1):
 * the daemon's own cap is the limit. Large so that it never is the limit
 * should pools come back. */
#ifdef MPTUN_MAX_FLOWS
#define MEMP_NUM_TCP_PCB MPTUN_MAX_FLOWS
#else
#define MEMP_NUM_TCP_PCB 16384
#endif
/* No link header is ever prepended: TUN packets start at the IP header. */
#define PBUF_LINK_HLEN 0

/* ---- link layer and netif ---- */

/* A TUN device carries bare IP packets: no ARP, no Ethernet framing. */
#define LWIP_ARP      0
#define LWIP_ETHERNET 0
/* One netif (the TUN): lwIP routes without walking a list. */
#define LWIP_SINGLE_NETIF 1
/* TCP output is one contiguous pbuf (headers and data), so the flow NAT
 * copies each packet with one memcpy before rewriting it. */
#define LWIP_NETIF_TX_SINGLE_PBUF 1

/* ---- IPv4 ---- */

#define LWIP_IPV4 1
/* Fragments carry no ports in all but the first, so the flow NAT cannot map
 * them; LAN TCP sets DF anyway, and lwIP sends segments that fit the MTU. */
#define IP_REASSEMBLY 0
#define IP_FRAG	      0
/* The usual TTL of a Linux host for packets sent back to the LAN. */
#define IP_DEFAULT_TTL 64
/* lwIP's icmp_dest_unreach() can answer a held SYN that is refused. */
#define LWIP_ICMP 1

/* ---- IPv6 ---- */

#define LWIP_IPV6 1
/* The daemon sets the netif's addresses and marks them VALID itself: no
 * SLAAC, router solicitation, duplicate detection, MLD or RA processing. */
#define LWIP_IPV6_AUTOCONFIG	      0
#define LWIP_IPV6_ADDRESS_LIFETIMES   0
#define LWIP_IPV6_SEND_ROUTER_SOLICIT 0
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS 0
#define LWIP_IPV6_MLD		      0
#define LWIP_ND6_ALLOW_RA_UPDATES     0
/* No neighbours on a TUN: nothing to queue for, no reachability to track. */
#define LWIP_ND6_QUEUEING		0
#define LWIP_ND6_TCP_REACHABILITY_HINTS 0
/* Same reason as IPv4: fragments never reach lwIP, segments fit the MTU. */
#define LWIP_IPV6_FRAG	0
#define LWIP_IPV6_REASS 0
/* ICMPv6 is mandatory for IPv6 and gives icmp6_dest_unreach(). */
#define LWIP_ICMP6 1

/* ---- transports ---- */

#define LWIP_TCP 1
/* The TUN only routes TCP here; lwIP needs no UDP (no DNS, no DHCP). */
#define LWIP_UDP 0
#define LWIP_RAW 0

/* ---- TCP ---- */

/* The usual Ethernet MSS; TCP_CALCULATE_EFF_SEND_MSS (default 1) lowers it
 * to the netif MTU per address family (1440 for IPv6 at MTU 1500). */
#define TCP_MSS 1460
/* Windows past 64 KiB need RFC 7323 window scaling. */
#define LWIP_WND_SCALE 1
/* 512 KiB receive window: a LAN client uploading over a long WAN path must
 * not stall on lwIP's window; the daemon closes it by delaying tcp_recved. */
#define TCP_WND (512 * 1024)
/* Smallest shift with TCP_WND <= 0xffff << TCP_RCV_SCALE (init.c checks). */
#define TCP_RCV_SCALE 4
/* 512 KiB of send buffer towards the LAN client per flow. */
#define TCP_SND_BUF (512 * 1024)
/* Segments per send buffer; init.c wants >= 2 * TCP_SND_BUF / TCP_MSS and
 * <= 0xffff. This is opt.h's formula, written out to be seen. */
#define TCP_SND_QUEUELEN ((4 * (TCP_SND_BUF) + (TCP_MSS - 1)) / (TCP_MSS))
/* Only netconn reads it, but init.c requires it below 0xffff - 4 * TCP_MSS
 * (opt.h's default, half of TCP_SND_BUF, is not). */
#define TCP_SNDLOWAT (32 * 1024)
/* Keep out-of-order segments and tell the client which ones (SACK), so one
 * loss on the LAN does not cost a window of retransmissions. */
#define TCP_QUEUE_OOSEQ	  1
#define LWIP_TCP_SACK_OUT 1
/* Bound what a client can park out of order: one window of bytes, and a
 * pbuf count so a flood of tiny segments cannot pin thousands of pbufs. */
#define TCP_OOSEQ_MAX_BYTES TCP_WND
#define TCP_OOSEQ_MAX_PBUFS 1024
/* A listener holds at most its backlog (<= 255, a u8_t) of handshakes in
 * progress (SYN_RCVD, or accepted late with tcp_backlog_delayed); a SYN
 * beyond it is dropped and the client retransmits. A second fence behind
 * the daemon's own admission of SYNs. */
#define TCP_LISTEN_BACKLOG 1
/* Maximum segment lifetime (read by lwip/priv/tcp_priv.h): TIME_WAIT lasts
 * 2 * TCP_MSL = 20 s instead of 120 s, so closed flows free pcbs and
 * synthetic ports sooner; the flow NAT's entries outlive it. */
#define TCP_MSL 10000UL
/* lwIP's own ISN is a counter advanced by timer ticks, the same for every
 * connection opened in one tick: LAN hosts could guess it. A random ISN per
 * connection instead (LWIP_RAND, arch/cc.h); lwIP never reuses a 4-tuple in
 * TIME_WAIT, so RFC 6528's per-tuple monotonicity buys nothing here. */
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port)        \
	LWIP_RAND()
/* The raw API's callbacks (tcp_recv, tcp_sent, tcp_err...), not events. */
#define LWIP_CALLBACK_API 1
/* Timestamps would add 12 bytes to every segment, and lwIP only echoes
 * them (its RTT estimate does not use them); a LAN needs no PAWS. */
#define LWIP_TCP_TIMESTAMPS 0

/* ---- checksums ---- */

/* Generate and verify every checksum in software, unless the stack turns
 * TCP's off on its netif: with the TUN's offloads (stack.c, vnet.h) the
 * kernel completes what lwIP sends and vouches for what it hands over
 * with a partial checksum. */
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1
/* Its sums by 64-bit words (sys_arch.c), several times faster than lwIP's
 * own by 16-bit ones: it is the IPv4 header of every segment, and without
 * offloads every byte. */
#define LWIP_CHKSUM lwip_port_chksum
#define CHECKSUM_GEN_IP	     1
#define CHECKSUM_GEN_TCP     1
#define CHECKSUM_GEN_ICMP    1
#define CHECKSUM_GEN_ICMP6   1
#define CHECKSUM_CHECK_IP    1
#define CHECKSUM_CHECK_TCP   1
#define CHECKSUM_CHECK_ICMP  1
#define CHECKSUM_CHECK_ICMP6 1

/* ---- statistics ---- */

/* The daemon exports lwIP's counters (lwip_stats) as metrics. */
#define LWIP_STATS	   1
#define LWIP_STATS_DISPLAY 0
/* 32-bit counters (read by lwip/stats.h): 16 bits wrap within seconds. */
#define LWIP_STATS_LARGE 1
#define LINK_STATS	 1
#define IP_STATS	 1
#define IP6_STATS	 1
#define ICMP_STATS	 1
#define ICMP6_STATS	 1
#define TCP_STATS	 1
/* Bytes malloc'd by lwIP and elements per pool (pcbs in use, high-water). */
#define MEM_STATS  1
#define MEMP_STATS 1

/* ---- debugging ---- */

/* Off by default: LWIP_DEBUG (read by lwip/debug.h) turns on LWIP_DEBUGF
 * output, to stderr through LWIP_PLATFORM_DIAG. Assertions stay on. */
#ifdef MPTUN_LWIP_DEBUG
#define LWIP_DEBUG	   1
#define LWIP_DBG_MIN_LEVEL LWIP_DBG_LEVEL_ALL
#define LWIP_DBG_TYPES_ON  LWIP_DBG_ON
#define NETIF_DEBUG	   LWIP_DBG_ON
#define IP_DEBUG	   LWIP_DBG_ON
/* Not IP6_DEBUG: 2.1.3's ip6_input() dumps the IPv6 header from the
 * payload after stripping it, reading past the end of short packets. */
#define TCP_DEBUG	 LWIP_DBG_ON
#define TCP_INPUT_DEBUG	 LWIP_DBG_ON
#define TCP_OUTPUT_DEBUG LWIP_DBG_ON
#define TCP_RST_DEBUG	 LWIP_DBG_ON
#define TCP_WND_DEBUG	 LWIP_DBG_ON
#endif

#endif /* MPTUN_LWIPOPTS_H */
