/* lib/hostcount.c: per-LAN-host flow counts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <sys/socket.h>

#include "hostcount.h"

static void test_get_put(void **state)
{
	struct hostcount h;
	uint8_t a[16] = { 192, 168, 10, 2 }, b[16] = { 192, 168, 10, 3 };
	uint8_t a6[16] = { 0xfd, 0x10, [15] = 2 };

	assert_int_equal(hostcount_init(&h, 4), 0);
	struct host_entry *ea = hostcount_get(&h, AF_INET, a);
	assert_non_null(ea);
	assert_int_equal(ea->flows, 0);
	assert_ptr_equal(hostcount_get(&h, AF_INET, a), ea); /* same host */
	ea->flows = 2, ea->pending = 1;
	struct host_entry *eb = hostcount_get(&h, AF_INET, b);
	struct host_entry *e6 = hostcount_get(&h, AF_INET6, a6);
	assert_true(eb != ea && e6 != ea && e6 != eb);
	/* IPv4 compares 4 bytes only: garbage after them is not the address */
	uint8_t a_dirty[16] = { 192, 168, 10, 2, 9, 9 };
	assert_ptr_equal(hostcount_get(&h, AF_INET, a_dirty), ea);
	assert_int_equal(h.n, 3);
	hostcount_put(&h, eb); /* zero counts: freed */
	assert_int_equal(h.n, 2);
	hostcount_put(&h, ea); /* still counted: kept */
	assert_int_equal(h.n, 2);
	ea->flows = 0;
	hostcount_put(&h, ea); /* pending 1: kept */
	assert_int_equal(h.n, 2);
	ea->pending = 0;
	hostcount_put(&h, ea);
	assert_int_equal(h.n, 1);
	hostcount_destroy(&h); /* frees e6 */
	assert_int_equal(h.n, 0);
}

static void test_many(void **state)
{
	struct hostcount h;
	struct host_entry *e[5000];
	uint8_t a[16] = { 10 };

	assert_int_equal(hostcount_init(&h, 16), 0);
	for (int i = 0; i < 5000; i++) {
		a[2] = (uint8_t)(i >> 8), a[3] = (uint8_t)i;
		assert_non_null(e[i] = hostcount_get(&h, AF_INET, a));
		e[i]->flows = 1;
	}
	assert_int_equal(h.n, 5000);
	for (int i = 0; i < 5000; i++) {
		a[2] = (uint8_t)(i >> 8), a[3] = (uint8_t)i;
		assert_ptr_equal(hostcount_get(&h, AF_INET, a), e[i]);
		e[i]->flows = 0;
		hostcount_put(&h, e[i]);
	}
	assert_int_equal(h.n, 0);
	hostcount_destroy(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_put),
		cmocka_unit_test(test_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
