/* test_daemon_metrics.c - metrics_listen addresses: parsing and the loopback rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>
#include <netinet/in.h>

#include "daemon/metrics.h"
#include "daemon/tankd.h"

/* tankd.c's event loop is not in libdaemon: the parsing tested here never reaches it */
int loop_add(struct tankd *t, int fd, enum watch_kind kind, void *ptr)
{
	(void)t, (void)fd, (void)kind, (void)ptr;
	return -ENOSYS;
}

int loop_mod(struct tankd *t, int fd, bool want_write)
{
	(void)t, (void)fd, (void)want_write;
	return -ENOSYS;
}

int loop_mod_events(struct tankd *t, int fd, uint32_t events)
{
	(void)t, (void)fd, (void)events;
	return -ENOSYS;
}

void loop_del(struct tankd *t, int fd)
{
	(void)t, (void)fd;
}

static void test_addr_parse(void **state)
{
	struct sockaddr_storage sa;
	socklen_t len;
	(void)state;

	assert_int_equal(metrics_addr_parse("127.0.0.1:9464", &sa, &len), 0);
	assert_int_equal(sa.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *)&sa)->sin_port), 9464);
	assert_true(metrics_addr_is_loopback(&sa));
	assert_int_equal(metrics_addr_parse("127.1.2.3:1", &sa, &len), 0);
	assert_true(metrics_addr_is_loopback(&sa));
	assert_int_equal(metrics_addr_parse("[::1]:9464", &sa, &len), 0);
	assert_int_equal(sa.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_true(metrics_addr_is_loopback(&sa));
	assert_int_equal(metrics_addr_parse("198.18.0.1:9464", &sa, &len), 0);
	assert_false(metrics_addr_is_loopback(&sa));
	assert_int_equal(metrics_addr_parse("0.0.0.0:9464", &sa, &len), 0);
	assert_false(metrics_addr_is_loopback(&sa));
	assert_int_equal(metrics_addr_parse("[2001:db8::1]:80", &sa, &len), 0);
	assert_false(metrics_addr_is_loopback(&sa));
}

static void test_addr_bad(void **state)
{
	static const char *const bad[] = {
		"",	       "127.0.0.1",	 "127.0.0.1:",	  "127.0.0.1:0", "127.0.0.1:65536",
		"::1:9464",    "[::1]9464",	 "[::1]",	  "localhost:9464", "127.0.0.1:80x",
		"[127.0.0.1]:80", "1.2.3:80", ":9464",
	};
	struct sockaddr_storage sa;
	socklen_t len;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (metrics_addr_parse(bad[i], &sa, &len) != -EINVAL)
			fail_msg("\"%s\" was accepted", bad[i]);
	assert_int_equal(metrics_addr_parse(NULL, &sa, &len), -EINVAL);
}

/* metrics_listen is checked when the config is read: a typo is a config error */
static void test_config_key(void **state)
{
	struct tankd_config c = {};
	struct diag d = {};

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_set(&c, "metrics_listen", "127.0.0.1:9464", &d), 0);
	assert_string_equal(c.metrics_listen, "127.0.0.1:9464");
	assert_int_equal(config_set(&c, "metrics_listen", "127.0.0.1", &d), -EINVAL);
	assert_non_null(strstr(d.msg, "ADDR:PORT"));
	assert_int_equal(config_set(&c, "metrics_listen", "off", &d), 0);
	assert_null(c.metrics_listen);
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_parse),
		cmocka_unit_test(test_addr_bad),
		cmocka_unit_test(test_config_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
