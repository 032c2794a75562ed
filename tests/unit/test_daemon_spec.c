/* test_daemon_spec.c - unit tests of pod spec parsing and validation (daemon/spec.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <fcntl.h>

#include "daemon/spec.h"

/* ---- helpers --------------------------------------------------------------------------- */

static char data_dir[PATH_MAX];

static void find_data_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (getenv("TANK_TEST_DATA")) {
		snprintf(data_dir, sizeof(data_dir), "%s", getenv("TANK_TEST_DATA"));
		return;
	}
	if (n > 0) {
		exe[n] = '\0';
		/* build/tests/<binary> -> <repo>/tests/data */
		snprintf(data_dir, sizeof(data_dir), "%s/../../tests/data", dirname(exe));
		if (fs_exists(data_dir))
			return;
	}
	snprintf(data_dir, sizeof(data_dir), "tests/data");
}

static json_t *load_file(const char *name)
{
	char path[PATH_MAX + 64];
	json_t *j = NULL;
	struct diag d = { 0 };

	snprintf(path, sizeof(path), "%s/specs/%s", data_dir, name);
	if (json_read_file(AT_FDCWD, path, SPEC_DOC_MAX, &j, &d) < 0)
		fail_msg("%s: %s", path, d.msg);
	return j;
}

static json_t *load_text(const char *text)
{
	json_t *j = NULL;
	struct diag d = { 0 };

	if (json_parse_buf(text, strlen(text), &j, &d) < 0)
		fail_msg("test JSON does not parse: %s\n%s", d.msg, text);
	return j;
}

/* Parse text and expect success. */
static struct pod_spec *parse_ok_json(json_t *doc)
{
	struct pod_spec *s = NULL;
	json_t *errors = NULL;
	struct diag d = { 0 };
	int r = spec_parse(doc, &s, &errors, &d);

	if (r < 0) {
		char *e = errors ? json_dumps(errors, JSON_INDENT(1)) : NULL;

		fail_msg("spec_parse failed (%d): %s\n%s", r, d.msg, e ? e : "");
	}
	assert_null(errors);
	assert_non_null(s);
	json_decref(doc);
	return s;
}

static struct pod_spec *parse_ok(const char *text)
{
	return parse_ok_json(load_text(text));
}

/* Parse and expect failure; returns the errors array. */
static json_t *parse_bad_json(json_t *doc, struct diag *d)
{
	struct pod_spec *s = NULL;
	json_t *errors = NULL;
	int r = spec_parse(doc, &s, &errors, d);

	assert_int_equal(r, -EINVAL);
	assert_null(s);
	assert_true(json_is_array(errors));
	assert_true(json_array_size(errors) > 0);
	json_decref(doc);
	return errors;
}

static json_t *parse_bad(const char *text)
{
	struct diag d = { 0 };

	return parse_bad_json(load_text(text), &d);
}

static bool has_error(const json_t *errors, const char *path, const char *msg_part)
{
	size_t i;
	json_t *e;

	json_array_foreach (errors, i, e) {
		const char *p = json_string_value(json_object_get(e, "path"));
		const char *m = json_string_value(json_object_get(e, "message"));

		assert_non_null(p);
		assert_non_null(m);
		if (strcmp(p, path) == 0 && (!msg_part || strstr(m, msg_part)))
			return true;
	}
	return false;
}

static void expect_error(const json_t *errors, const char *path, const char *msg_part)
{
	if (!has_error(errors, path, msg_part)) {
		char *all = json_dumps(errors, JSON_INDENT(1));

		fail_msg("no error at \"%s\" containing \"%s\"; errors:\n%s", path,
			 msg_part ? msg_part : "", all);
	}
}

/* A spec with one error expected at path. */
static void expect_one(const char *text, const char *path, const char *msg_part)
{
	json_t *errors = parse_bad(text);

	expect_error(errors, path, msg_part);
	if (json_array_size(errors) != 1) {
		char *all = json_dumps(errors, JSON_INDENT(1));

		fail_msg("expected exactly one error, got:\n%s", all);
	}
	json_decref(errors);
}

/* A pod with one container whose body is `ctr` (JSON members, no braces). */
#define POD_CTR(ctr) "{\"name\":\"p\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"," ctr "}]}"
#define POD_NET(net) "{\"name\":\"p\",\"network\":" net ",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}"
#define POD_NIC(nic) POD_NET("{\"nics\":[{\"name\":\"eth0\"," nic "}]}")

/* ---- the design example ------------------------------------------------------------------ */

static void test_design_example(void **state)
{
	struct pod_spec *s = parse_ok_json(load_file("design-example.json"));
	struct spec_nic *n;
	struct spec_container *c;
	(void)state;

	assert_string_equal(s->name, "web");
	assert_int_equal(s->restart, RESTART_ALWAYS);
	assert_int_equal(s->net, NET_NICS);
	assert_int_equal(s->n_nics, 2);

	n = &s->nics[0];
	assert_string_equal(n->name, "eth0");
	assert_int_equal(n->mode, NIC_MACVLAN);
	assert_string_equal(n->parent, "auto");
	assert_null(n->ipam);
	assert_int_equal(n->n_addrs, 2);
	assert_int_equal(n->addrs[0].family, AF_INET);
	assert_int_equal(n->addrs[0].prefix, 24);
	assert_string_equal(n->addrs[0].text, "198.18.0.10/24");
	assert_memory_equal(n->addrs[0].addr, "\xc6\x12\x00\x0a", 4);
	assert_int_equal(n->addrs[1].family, AF_INET6);
	assert_int_equal(n->addrs[1].prefix, 64);
	assert_string_equal(n->addrs[1].text, "2001:db8:1::10/64");
	assert_int_equal(n->gateway4.family, AF_INET);
	assert_string_equal(n->gateway4.text, "198.18.0.1");
	assert_int_equal(n->gateway6.family, 0);
	assert_null(n->mac);

	n = &s->nics[1];
	assert_string_equal(n->name, "eth1");
	assert_int_equal(n->mode, NIC_VETH);
	assert_null(n->parent);
	assert_string_equal(n->ipam, "default");
	assert_int_equal(n->n_addrs, 0);

	assert_int_equal(strv_length(s->dns), 1);
	assert_string_equal(s->dns[0], "198.18.0.1");

	assert_true(s->has_policy);
	assert_true(s->policy.has_ingress);
	assert_true(s->policy.has_egress);
	assert_int_equal(s->policy.mode, POLICY_ENFORCE);
	assert_int_equal(s->policy.n_ingress, 1);
	assert_int_equal(s->policy.ingress[0].n_peers, 1);
	assert_string_equal(s->policy.ingress[0].peers[0].text, "198.18.0.0/24");
	assert_int_equal(s->policy.ingress[0].n_ports, 2);
	assert_int_equal(s->policy.ingress[0].ports[0].proto, IPPROTO_TCP);
	assert_int_equal(s->policy.ingress[0].ports[0].first, 80);
	assert_int_equal(s->policy.ingress[0].ports[0].last, 80);
	assert_int_equal(s->policy.ingress[0].ports[1].first, 8000);
	assert_int_equal(s->policy.ingress[0].ports[1].last, 8100);
	assert_int_equal(s->policy.n_egress, 1);
	assert_int_equal(s->policy.egress[0].n_peers, 2);
	assert_string_equal(s->policy.egress[0].peers[0].text, "0.0.0.0/0");
	assert_string_equal(s->policy.egress[0].peers[1].text, "::/0");
	assert_int_equal(s->policy.egress[0].peers[1].prefix, 0);
	assert_int_equal(s->policy.egress[0].n_ports, 2);
	assert_int_equal(s->policy.egress[0].ports[0].proto, IPPROTO_UDP);
	assert_int_equal(s->policy.egress[0].ports[0].first, 53);
	assert_int_equal(s->policy.egress[0].ports[1].proto, IPPROTO_TCP);
	assert_int_equal(s->policy.egress[0].ports[1].first, 443);

	assert_int_equal(s->n_volumes, 3);
	assert_string_equal(s->volumes[0].name, "data");
	assert_null(s->volumes[0].host_path);
	assert_int_equal(s->volumes[0].tmpfs_size, 0);
	assert_string_equal(s->volumes[1].name, "conf");
	assert_string_equal(s->volumes[1].host_path, "/srv/web/conf");
	assert_string_equal(s->volumes[2].name, "scratch");
	assert_int_equal(s->volumes[2].tmpfs_size, 64ULL << 20);

	assert_int_equal(s->n_containers, 1);
	c = &s->containers[0];
	assert_string_equal(c->name, "app");
	assert_string_equal(c->image, "127.0.0.1:5000/web:1.0");
	assert_null(c->rootfs);
	assert_int_equal(strv_length(c->command), 1);
	assert_string_equal(c->command[0], "/usr/sbin/nginx");
	assert_int_equal(strv_length(c->args), 2);
	assert_string_equal(c->args[0], "-g");
	assert_string_equal(c->args[1], "daemon off;");
	assert_int_equal(strv_length(c->env), 1);
	assert_string_equal(c->env[0], "TZ=UTC");
	assert_string_equal(c->working_dir, "/");
	assert_string_equal(c->user, "www-data");
	assert_false(c->tty);
	assert_int_equal(c->n_mounts, 1);
	assert_string_equal(c->mounts[0].volume, "data");
	assert_string_equal(c->mounts[0].path, "/var/lib/web");
	assert_false(c->mounts[0].read_only);
	assert_int_equal(c->limits.memory, 256ULL << 20);
	assert_int_equal(c->limits.cpu_milli, 500);
	assert_int_equal(c->limits.pids, 128);
	assert_int_equal(c->stop_signal, SIGTERM);
	assert_int_equal(c->stop_grace_ms, 10000);
	pod_spec_free(s);
}

static void test_walking_skeleton(void **state)
{
	struct pod_spec *s = parse_ok_json(load_file("minimal-veth.json"));
	(void)state;

	assert_string_equal(s->name, "skel");
	assert_int_equal(s->restart, RESTART_ALWAYS);
	assert_int_equal(s->net, NET_NICS);
	assert_int_equal(s->n_nics, 1);
	assert_int_equal(s->nics[0].mode, NIC_VETH);
	assert_null(s->nics[0].parent);
	assert_int_equal(s->nics[0].n_addrs, 1);
	assert_string_equal(s->nics[0].addrs[0].text, "198.18.0.2/32");
	assert_int_equal(s->nics[0].gateway4.family, 0);
	assert_null(s->dns);
	assert_false(s->has_policy);
	assert_int_equal(s->n_volumes, 0);
	assert_int_equal(s->n_containers, 1);
	assert_string_equal(s->containers[0].image, "oci:/x:1.0");
	assert_null(s->containers[0].command);
	assert_null(s->containers[0].args);
	assert_null(s->containers[0].env);
	assert_int_equal(s->containers[0].stop_signal, 0);
	assert_int_equal(s->containers[0].stop_grace_ms, SPEC_STOP_GRACE_DEFAULT_MS);
	assert_int_equal(s->containers[0].limits.memory, 0);
	pod_spec_free(s);
}

static void test_host_network_file(void **state)
{
	struct pod_spec *s = parse_ok_json(load_file("host-network.json"));
	(void)state;

	assert_int_equal(s->net, NET_HOST);
	assert_int_equal(s->restart, RESTART_ON_FAILURE);
	assert_null(s->containers[0].image);
	assert_string_equal(s->containers[0].rootfs, "/srv/bird/rootfs");
	assert_string_equal(s->containers[0].user, "0:0");
	assert_int_equal(s->containers[0].stop_signal, 15);
	assert_int_equal(s->containers[0].stop_grace_ms, 90000);
	pod_spec_free(s);
}

/* ---- all mistakes at once ---------------------------------------------------------------- */

static void test_many_mistakes(void **state)
{
	struct diag d = { 0 };
	json_t *e = parse_bad_json(load_file("many-mistakes.json"), &d);
	(void)state;

	expect_error(e, "name", "\"Web\": names are lowercase");
	expect_error(e, "restart", "\"sometimes\": unknown restart policy (use always");
	expect_error(e, "network.nics[0].ip", "\"198.18.0.300/24\": not an IPv4 or IPv6 address");
	expect_error(e, "network.nics[0].gateway",
		     "veth NICs route via a link-local gateway; remove gateway");
	expect_error(e, "network.nics[1].mode", "\"bridge\": unknown NIC mode");
	expect_error(e, "network.nics[1].ip[0]", "prefix length 129 is out of range (0-128");
	expect_error(e, "network.nics[1].mac", "multicast MAC");
	expect_error(e, "network.nics[1].name", "duplicate NIC name \"eth0\"");
	expect_error(e, "network.policy.ingress[0].from[0]",
		     "host bits are set; did you mean 198.18.0.0/24?");
	expect_error(e, "network.policy.ingress[0].ports[0]", "missing protocol");
	expect_error(e, "network.policy.ingress[0].ports[1]", "ports are numbers 1-65535");
	expect_error(e, "network.policy.mode", "\"strict\": unknown policy mode");
	expect_error(e, "volumes[0].host_path", "\"relative/dir\": must be an absolute path");
	expect_error(e, "volumes[1].tmpfs", "fractions are not supported");
	expect_error(e, "volumes[1].name", "duplicate volume name \"data\"");
	expect_error(e, "containers[0].image", "OCI layout path must be absolute");
	expect_error(e, "containers[0].comand", "unknown key");
	expect_error(e, "containers[0].comand", "did you mean \"command\"?");
	expect_error(e, "containers[0].env[\"A=B\"]", "cannot contain '='");
	expect_error(e, "containers[0].env.N", "expected a string");
	expect_error(e, "containers[0].working_dir", "\"tmp\": must be an absolute path");
	expect_error(e, "containers[0].mounts[0].volume", "\"logs\": no such volume (declared: data, data)");
	expect_error(e, "containers[0].mounts[1].path", "duplicate mount path \"/data\"");
	expect_error(e, "containers[0].limits.memory",
		     "\"12Q\": unknown unit (use Ki, Mi, Gi, Ti or k, M, G, T)");
	expect_error(e, "containers[0].limits.cpu", "\"lots\": not a CPU amount");
	expect_error(e, "containers[0].limits.pids", "0: out of range");
	expect_error(e, "containers[0].stop_signal", "\"SIGFOO\": unknown signal");
	expect_error(e, "containers[0].stop_grace", "\"10\": missing unit");
	expect_error(e, "containers[1].image", "expected an image reference string");
	expect_error(e, "containers[1].tty", "expected true or false, got a string");
	expect_error(e, "containers[1].name", "duplicate container name \"app\"");
	assert_int_equal(json_array_size(e), 30);

	/* the first error also lands in the diag */
	assert_int_equal(d.err, -EINVAL);
	assert_string_equal(d.path, "name");
	assert_non_null(strstr(d.msg, "name: \"Web\""));
	json_decref(e);
}

static void test_unknown_key(void **state)
{
	json_t *e = parse_bad(POD_CTR("\"comand\":[\"/bin/sh\"]"));
	const char *m;
	(void)state;

	assert_int_equal(json_array_size(e), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(e, 0), "path")),
			    "containers[0].comand");
	m = json_string_value(json_object_get(json_array_get(e, 0), "message"));
	assert_non_null(strstr(m, "unknown key"));
	assert_non_null(strstr(m, "valid: name, image, command, args, env"));
	json_decref(e);

	expect_one("{\"name\":\"p\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}],\"kind\":1}",
		   "kind", "unknown key (valid: name, restart, network, volumes, share_pid, containers)");
	expect_one(POD_NET("{\"nic\":[]}"), "network.nic", "did you mean \"nics\"?");
	expect_one(POD_NIC("\"addr\":\"198.18.0.1/24\""), "network.nics[0].addr", "unknown key");
	expect_one(POD_NET("{\"policy\":{\"ingress\":[{\"to\":[\"198.18.0.0/24\"]}]}}"),
		   "network.policy.ingress[0].to", "valid: from, ports");
	/* odd keys are quoted in the path */
	expect_one(POD_CTR("\"a b\\\"c\":1"), "containers[0][\"a b\\\"c\"]", "unknown key");
}

static void test_required(void **state)
{
	(void)state;
	expect_one("{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}", "name", "required");
	expect_one("{\"name\":\"p\"}", "containers", "required");
	expect_one("{\"name\":\"p\",\"containers\":[]}", "containers", "at least one container");
	expect_one("{\"name\":\"p\",\"containers\":[{\"image\":\"x\"}]}", "containers[0].name",
		   "required");
	expect_one("{\"name\":\"p\",\"containers\":[{\"name\":\"c\"}]}", "containers[0].image",
		   "required");
	expect_one(POD_NET("{\"nics\":[{\"ip\":\"198.18.0.1/24\"}]}"), "network.nics[0].name",
		   "required");
	expect_one("{\"name\":\"p\",\"containers\":[{\"name\":\"c\",\"image\":{}}]}",
		   "containers[0].image.rootfs", "required");
}

/* ---- names ------------------------------------------------------------------------------- */

static void test_names(void **state)
{
	char long_name[80];
	char doc[256];
	(void)state;

	assert_true(spec_name_is_valid("web"));
	assert_true(spec_name_is_valid("a"));
	assert_true(spec_name_is_valid("0"));
	assert_true(spec_name_is_valid("web-1"));
	assert_false(spec_name_is_valid(NULL));
	assert_false(spec_name_is_valid(""));
	assert_false(spec_name_is_valid("Web"));
	assert_false(spec_name_is_valid("-web"));
	assert_false(spec_name_is_valid("web-"));
	assert_false(spec_name_is_valid("web_1"));
	assert_false(spec_name_is_valid("web.1"));
	assert_false(spec_name_is_valid("../x"));
	memset(long_name, 'a', 63);
	long_name[63] = '\0';
	assert_true(spec_name_is_valid(long_name));
	long_name[63] = 'a';
	long_name[64] = '\0';
	assert_false(spec_name_is_valid(long_name));

	expect_one("{\"name\":\"Web\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}", "name",
		   "lowercase");
	expect_one("{\"name\":\"-web\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}", "name",
		   "cannot start with '-'");
	snprintf(doc, sizeof(doc), "{\"name\":\"%s\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}",
		 long_name);
	expect_one(doc, "name", "64 characters; a name has at most 63");
	expect_one("{\"name\":\"\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}", "name",
		   "cannot be empty");
	expect_one("{\"name\":5,\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}", "name",
		   "expected a string");
	expect_one("{\"name\":\"p\",\"containers\":[{\"name\":\"C_1\",\"image\":\"x\"}]}",
		   "containers[0].name", "lowercase");
	expect_one("{\"name\":\"p\",\"volumes\":[{\"name\":\"a.b\"}],"
		   "\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}",
		   "volumes[0].name", "only a-z, 0-9 and '-'");
}

static void test_restart_values(void **state)
{
	struct pod_spec *s;
	(void)state;

	s = parse_ok("{\"name\":\"p\",\"restart\":\"never\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}");
	assert_int_equal(s->restart, RESTART_NEVER);
	assert_string_equal(restart_policy_name(s->restart), "never");
	pod_spec_free(s);
	s = parse_ok("{\"name\":\"p\",\"restart\":\"on_failure\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}");
	assert_int_equal(s->restart, RESTART_ON_FAILURE);
	assert_string_equal(restart_policy_name(s->restart), "on_failure");
	pod_spec_free(s);
	s = parse_ok("{\"name\":\"p\",\"restart\":\"always\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}");
	assert_int_equal(s->restart, RESTART_ALWAYS);
	assert_string_equal(restart_policy_name(s->restart), "always");
	pod_spec_free(s);
	expect_one("{\"name\":\"p\",\"restart\":\"on-failure\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}",
		   "restart", "use always, on_failure or never");
	expect_one("{\"name\":\"p\",\"restart\":true,\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}",
		   "restart", "got a boolean");
}

static void test_network_modes(void **state)
{
	struct pod_spec *s;
	(void)state;

	s = parse_ok(POD_NET("\"host\""));
	assert_int_equal(s->net, NET_HOST);
	pod_spec_free(s);
	s = parse_ok(POD_NET("\"none\""));
	assert_int_equal(s->net, NET_NONE);
	pod_spec_free(s);
	s = parse_ok("{\"name\":\"p\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}");
	assert_int_equal(s->net, NET_NONE);
	pod_spec_free(s);
	s = parse_ok(POD_NET("{}"));
	assert_int_equal(s->net, NET_NICS);
	assert_int_equal(s->n_nics, 0);
	pod_spec_free(s);
	/* the object form of host: a policy for the cgroup programs */
	s = parse_ok(POD_NET("{\"mode\":\"host\",\"policy\":{\"ingress\":[{\"ports\":[\"80/tcp\"]}]}}"));
	assert_int_equal(s->net, NET_HOST);
	assert_true(s->has_policy);
	assert_true(s->policy.has_ingress);
	assert_false(s->policy.has_egress);
	assert_int_equal(s->policy.n_ingress, 1);
	assert_int_equal(s->n_nics, 0);
	pod_spec_free(s);
	s = parse_ok(POD_NET("{\"mode\":\"host\"}"));
	assert_int_equal(s->net, NET_HOST);
	assert_false(s->has_policy);
	pod_spec_free(s);
	expect_one(POD_NET("{\"mode\":\"bridge\"}"), "network.mode", "unknown network mode");
	expect_one(POD_NET("{\"mode\":\"host\",\"nics\":[]}"), "network.nics", "unknown key");
	expect_one(POD_NET("{\"mode\":\"host\",\"policy\":{\"ingress\":[{\"ports\":[\"80\"]}]}}"),
		   "network.policy.ingress[0].ports[0]", "missing protocol");
	expect_one(POD_NET("\"bridge\""), "network", "use \"none\", \"host\", an object");
	expect_one(POD_NET("[]"), "network", "got an array");
}

/* ---- NICs -------------------------------------------------------------------------------- */

static void test_nics(void **state)
{
	struct pod_spec *s;
	json_t *e;
	(void)state;

	s = parse_ok(POD_NIC("\"ip\":{\"ipam\":\"lan\"},\"parent\":\"uplink0\","
			     "\"mac\":\"02:00:C6:12:00:0A\""));
	assert_string_equal(s->nics[0].ipam, "lan");
	assert_int_equal(s->nics[0].mode, NIC_MACVLAN);
	assert_string_equal(s->nics[0].parent, "uplink0");
	assert_string_equal(s->nics[0].mac, "02:00:c6:12:00:0a");
	assert_string_equal(nic_mode_name(s->nics[0].mode), "macvlan");
	pod_spec_free(s);

	s = parse_ok(POD_NIC("\"mode\":\"netkit\",\"ip\":[\"2001:db8::10/64\",\"198.18.0.10/24\"]"));
	assert_int_equal(s->nics[0].mode, NIC_NETKIT);
	assert_int_equal(s->nics[0].n_addrs, 2);
	pod_spec_free(s);

	/* gateway as a list with one per family; host bits set on an interface address */
	s = parse_ok(POD_NIC("\"ip\":[\"2001:db8::10/64\",\"198.18.0.10/24\"],"
			     "\"gateway\":[\"2001:db8::1\",\"198.18.0.1\"]"));
	assert_string_equal(s->nics[0].gateway6.text, "2001:db8::1");
	assert_string_equal(s->nics[0].gateway4.text, "198.18.0.1");
	pod_spec_free(s);

	/* a NIC without address is allowed (L2 only) */
	s = parse_ok(POD_NIC("\"mode\":\"veth\""));
	assert_int_equal(s->nics[0].n_addrs, 0);
	assert_null(s->nics[0].ipam);
	pod_spec_free(s);

	expect_one(POD_NIC("\"mode\":\"veth\",\"ip\":\"198.18.0.2/32\",\"gateway\":\"198.18.0.1\""),
		   "network.nics[0].gateway",
		   "veth NICs route via a link-local gateway; remove gateway");
	/* the order of keys does not matter for cross-field checks */
	expect_one(POD_NIC("\"gateway\":\"198.18.0.1\",\"ip\":\"198.18.0.2/32\",\"mode\":\"veth\""),
		   "network.nics[0].gateway", "link-local gateway");
	expect_one(POD_NIC("\"mode\":\"veth\",\"parent\":\"eth9\""), "network.nics[0].parent",
		   "macvlan NICs only");
	expect_one(POD_NIC("\"ip\":\"198.18.0.2/24\",\"gateway\":\"2001:db8::1\""),
		   "network.nics[0].gateway", "IPv6 gateway needs an IPv6 address");
	expect_one(POD_NIC("\"ip\":\"198.18.0.2/24\",\"gateway\":\"198.18.0.1/24\""),
		   "network.nics[0].gateway", "not a CIDR");
	expect_one(POD_NIC("\"ip\":\"198.18.0.2/24\",\"gateway\":[\"198.18.0.1\",\"198.18.0.3\"]"),
		   "network.nics[0].gateway[1]", "a second IPv4 gateway");
	expect_one(POD_NIC("\"ip\":[\"198.18.0.2/24\",\"198.18.0.2/25\"]"),
		   "network.nics[0].ip[1]", "duplicate address");
	/* pools and static addresses mix: one address from each pool */
	s = parse_ok(POD_NIC("\"ip\":[\"ipam\",{\"ipam\":\"lan6\"},\"198.18.0.2/24\"]"));
	assert_string_equal(s->nics[0].ipam, "default");
	assert_non_null(s->nics[0].ipam_more);
	assert_string_equal(s->nics[0].ipam_more[0], "lan6");
	assert_null(s->nics[0].ipam_more[1]);
	assert_int_equal(s->nics[0].n_addrs, 1);
	pod_spec_free(s);
	s = parse_ok(POD_NIC("\"ip\":[{\"ipam\":\"lan4\"},{\"ipam\":\"lan6\"}]"));
	assert_string_equal(s->nics[0].ipam, "lan4");
	assert_string_equal(s->nics[0].ipam_more[0], "lan6");
	assert_int_equal(s->nics[0].n_addrs, 0);
	pod_spec_free(s);
	expect_one(POD_NIC("\"ip\":[{\"ipam\":\"lan\"},{\"ipam\":\"lan\"}]"),
		   "network.nics[0].ip[1].ipam", "named twice");
	expect_one(POD_NIC("\"ip\":[\"ipam\",\"ipam\"]"), "network.nics[0].ip[1]", "named twice");
	expect_one(POD_NIC("\"ip\":[{\"ipam\":\"a\"},{\"ipam\":\"b\"},{\"ipam\":\"c\"},"
			   "{\"ipam\":\"d\"},{\"ipam\":\"e\"}]"),
		   "network.nics[0].ip[4].ipam", "at most 4 IPAM pools");
	e = parse_bad(POD_NIC("\"ip\":[{\"pool\":\"lan\"}]"));
	expect_error(e, "network.nics[0].ip[0].pool", "unknown key (valid: ipam)");
	json_decref(e);
	expect_one(POD_NIC("\"ip\":[]"), "network.nics[0].ip", "empty list");
	expect_one(POD_NIC("\"ip\":5"), "network.nics[0].ip", "expected a CIDR string");
	expect_one(POD_NIC("\"ip\":{\"ipam\":\"\"}"), "network.nics[0].ip.ipam", "pool name");
	e = parse_bad(POD_NIC("\"ip\":{\"pool\":\"x\"}"));
	expect_error(e, "network.nics[0].ip.pool", "unknown key (valid: ipam)");
	expect_error(e, "network.nics[0].ip.ipam", "required");
	json_decref(e);
	/* extra routes: IPv4 and IPv6, via in the same family, device routes on macvlan */
	s = parse_ok(POD_NIC("\"ip\":[\"198.18.0.2/24\",\"2001:db8::2/64\"],\"routes\":["
			     "{\"to\":\"198.18.64.0/24\",\"via\":\"198.18.0.1\"},"
			     "{\"to\":\"2001:db8:64::/48\",\"via\":\"2001:db8::1\"},"
			     "{\"to\":\"198.18.65.0/24\"}]"));
	assert_int_equal(s->nics[0].n_routes, 3);
	assert_string_equal(s->nics[0].routes[0].to.text, "198.18.64.0/24");
	assert_string_equal(s->nics[0].routes[0].via.text, "198.18.0.1");
	assert_int_equal(s->nics[0].routes[1].to.family, AF_INET6);
	assert_string_equal(s->nics[0].routes[1].via.text, "2001:db8::1");
	assert_int_equal(s->nics[0].routes[2].via.family, 0);
	pod_spec_free(s);
	s = parse_ok(POD_NIC("\"mode\":\"veth\",\"ip\":\"198.18.0.2/32\","
			     "\"routes\":[{\"to\":\"198.18.64.0/24\",\"via\":\"169.254.1.1\"}]"));
	assert_int_equal(s->nics[0].n_routes, 1);
	pod_spec_free(s);
	expect_one(POD_NIC("\"ip\":\"198.18.0.2/24\",\"routes\":[{\"to\":\"198.18.64.0/24\","
			   "\"via\":\"2001:db8::1\"}]"),
		   "network.nics[0].routes[0].via", "an IPv4 route needs an IPv4 next hop");
	expect_one(POD_NIC("\"ip\":\"198.18.0.2/24\",\"routes\":[{\"to\":\"198.18.64.1/24\"}]"),
		   "network.nics[0].routes[0].to", "host bits are set");
	expect_one(POD_NIC("\"ip\":\"198.18.0.2/24\",\"routes\":[{\"via\":\"198.18.0.1\"}]"),
		   "network.nics[0].routes[0].to", "required");
	expect_one(POD_NIC("\"ip\":\"198.18.0.2/24\",\"routes\":[{\"to\":\"198.18.64.0/24\","
			   "\"via\":\"198.18.0.1/24\"}]"),
		   "network.nics[0].routes[0].via", "not a CIDR");
	expect_one(POD_NIC("\"ip\":\"198.18.0.2/24\",\"routes\":[{\"to\":\"2001:db8:64::/48\"}]"),
		   "network.nics[0].routes[0].to", "an IPv6 route needs an IPv6 address");
	expect_one(POD_NIC("\"ip\":\"198.18.0.2/24\",\"routes\":[{\"to\":\"198.18.64.0/24\"},"
			   "{\"to\":\"198.18.64.0/24\"}]"),
		   "network.nics[0].routes[1].to", "duplicate route");
	expect_one(POD_NIC("\"mode\":\"veth\",\"ip\":\"198.18.0.2/32\",\"routes\":["
			   "{\"to\":\"198.18.64.0/24\",\"via\":\"198.18.0.1\"}]"),
		   "network.nics[0].routes[0].via", "veth NICs route only via the host");
	expect_one(POD_NIC("\"ip\":\"198.18.0.2/24\",\"routes\":[{\"to\":\"198.18.64.0/24\","
			   "\"gw\":\"198.18.0.1\"}]"),
		   "network.nics[0].routes[0].gw", "unknown key");
	expect_one(POD_NIC("\"ip\":\"198.18.0.2/24\",\"routes\":{}"), "network.nics[0].routes",
		   "an array");
	expect_one(POD_NIC("\"mac\":\"02:00:00:00:00\""), "network.nics[0].mac", "six hex bytes");
	expect_one(POD_NIC("\"mac\":\"00:00:00:00:00:00\""), "network.nics[0].mac", "all-zero");
	expect_one(POD_NET("{\"nics\":[{\"name\":\"lo\"}]}"), "network.nics[0].name", "loopback");
	expect_one(POD_NET("{\"nics\":[{\"name\":\"averyveryverylongname\"}]}"),
		   "network.nics[0].name", "at most 15 characters");
	expect_one(POD_NET("{\"nics\":[{\"name\":\"a/b\"}]}"), "network.nics[0].name", "'/'");
	expect_one(POD_NET("{\"nics\":[{\"name\":\"a b\"}]}"), "network.nics[0].name", "whitespace");
	expect_one(POD_NET("{\"nics\":[{\"name\":\"..\"}]}"), "network.nics[0].name",
		   "not interface names");
	expect_one(POD_NET("{\"nics\":[{\"name\":\"\"}]}"), "network.nics[0].name", "empty");
	expect_one(POD_NET("{\"nics\":[{\"name\":\"eth0\"},{\"name\":\"eth0\"}]}"),
		   "network.nics[1].name", "duplicate NIC name \"eth0\" (also network.nics[0])");
	expect_one(POD_NET("{\"nics\":[{\"name\":\"e0\"},{\"name\":\"e1\"},{\"name\":\"e2\"},"
			   "{\"name\":\"e3\"},{\"name\":\"e4\"},{\"name\":\"e5\"},{\"name\":\"e6\"},"
			   "{\"name\":\"e7\"},{\"name\":\"e8\"}]}"),
		   "network.nics", "too many entries (9; at most 8)");
	expect_one(POD_NET("{\"dns\":[\"198.18.0.1\",\"198.18.0.2\",\"198.18.0.3\",\"198.18.0.4\"]}"),
		   "network.dns", "at most 3");
	expect_one(POD_NET("{\"dns\":[\"198.18.0.1/32\"]}"), "network.dns[0]", "without a prefix");
}

static void test_cidrs(void **state)
{
	struct spec_cidr c;
	char why[200];
	(void)state;

	assert_int_equal(spec_cidr_parse("198.18.0.10/24", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 24);
	assert_string_equal(c.text, "198.18.0.10/24");
	assert_int_equal(spec_cidr_parse("2001:DB8:0:0::10/64", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_string_equal(c.text, "2001:db8::10/64");
	assert_int_equal(spec_cidr_parse("198.18.0.10/32", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), 0);
	assert_int_equal(spec_cidr_parse("2001:db8::1/128", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), 0);

	/* interface addresses */
	assert_int_equal(spec_cidr_parse("198.18.0.10", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "missing prefix length (e.g. 198.18.0.10/24)"));
	assert_int_equal(spec_cidr_parse("198.18.0.10/33", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "0-32 for IPv4"));
	assert_int_equal(spec_cidr_parse("2001:db8::1/129", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_cidr_parse("198.18.0.10/024", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_cidr_parse("198.18.0.10/", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_cidr_parse("198.18.0.10/-1", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_cidr_parse("198.18.0.10/99999999999999999999", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_cidr_parse("198.18.0/24", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_cidr_parse("198.18.0.1.2/24", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_cidr_parse("fe80::1%eth0/64", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_cidr_parse("/24", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_cidr_parse("", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_cidr_parse("198.18.0.10/0", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_cidr_parse("0.0.0.0/8", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_cidr_parse("224.0.0.1/4", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_cidr_parse("ff02::1/64", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_cidr_parse("127.0.0.2/8", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_cidr_parse("::1/128", SPEC_CIDR_IFADDR, &c, why, sizeof(why)), -EINVAL);

	/* policy peers */
	assert_int_equal(spec_cidr_parse("198.18.0.0/15", SPEC_CIDR_PEER, &c, why, sizeof(why)), 0);
	assert_int_equal(spec_cidr_parse("0.0.0.0/0", SPEC_CIDR_PEER, &c, why, sizeof(why)), 0);
	assert_int_equal(spec_cidr_parse("::/0", SPEC_CIDR_PEER, &c, why, sizeof(why)), 0);
	assert_int_equal(spec_cidr_parse("198.18.0.7", SPEC_CIDR_PEER, &c, why, sizeof(why)), 0);
	assert_int_equal(c.prefix, 32);
	assert_string_equal(c.text, "198.18.0.7/32");
	assert_int_equal(spec_cidr_parse("2001:db8:1::/48", SPEC_CIDR_PEER, &c, why, sizeof(why)), 0);
	assert_int_equal(spec_cidr_parse("2001:db8:1::1/48", SPEC_CIDR_PEER, &c, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "did you mean 2001:db8:1::/48?"));
	assert_int_equal(spec_cidr_parse("198.18.1.0/15", SPEC_CIDR_PEER, &c, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "did you mean 198.18.0.0/15?"));

	/* plain addresses */
	assert_int_equal(spec_cidr_parse("2001:db8::53", SPEC_CIDR_ADDR, &c, why, sizeof(why)), 0);
	assert_int_equal(c.prefix, 128);
	assert_string_equal(c.text, "2001:db8::53");
	assert_int_equal(spec_cidr_parse("198.18.0.1/32", SPEC_CIDR_ADDR, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_cidr_parse("0.0.0.0", SPEC_CIDR_ADDR, &c, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_cidr_parse(NULL, SPEC_CIDR_ADDR, &c, why, sizeof(why)), -EINVAL);

	/* in a spec, with paths */
	expect_one(POD_NIC("\"ip\":\"198.18.0.1/33\""), "network.nics[0].ip", "\"198.18.0.1/33\": prefix length 33 is out of range");
	expect_one(POD_NIC("\"ip\":[\"198.18.0.1/24\", \"2001:db8::zz/64\"]"), "network.nics[0].ip[1]",
		   "not an IPv4 or IPv6 address");
	expect_one(POD_NET("{\"policy\":{\"egress\":[{\"to\":[\"2001:db8::1/32\"]}]}}"),
		   "network.policy.egress[0].to[0]", "did you mean 2001:db8::/32?");
}

static void test_ports(void **state)
{
	struct spec_port_range p;
	char why[200];
	struct pod_spec *s;
	(void)state;

	assert_int_equal(spec_port_parse("80/tcp", &p, why, sizeof(why)), 0);
	assert_int_equal(p.proto, IPPROTO_TCP);
	assert_int_equal(p.first, 80);
	assert_int_equal(p.last, 80);
	assert_int_equal(spec_port_parse("8000-8100/tcp", &p, why, sizeof(why)), 0);
	assert_int_equal(p.first, 8000);
	assert_int_equal(p.last, 8100);
	assert_int_equal(spec_port_parse("53/udp", &p, why, sizeof(why)), 0);
	assert_int_equal(p.proto, IPPROTO_UDP);
	assert_int_equal(spec_port_parse("65535/sctp", &p, why, sizeof(why)), 0);
	assert_int_equal(p.proto, IPPROTO_SCTP);
	assert_int_equal(spec_port_parse("icmp", &p, why, sizeof(why)), 0);
	assert_int_equal(p.proto, IPPROTO_ICMP);
	assert_int_equal(p.first, 0);
	assert_int_equal(p.last, 0);
	assert_int_equal(spec_port_parse("icmpv6", &p, why, sizeof(why)), 0);
	assert_int_equal(p.proto, IPPROTO_ICMPV6);
	assert_int_equal(spec_port_parse("udp", &p, why, sizeof(why)), 0);
	assert_int_equal(p.first, 0);
	assert_int_equal(p.last, 65535);

	assert_int_equal(spec_port_parse("80", &p, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "missing protocol"));
	assert_int_equal(spec_port_parse("0/tcp", &p, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_port_parse("65536/tcp", &p, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_port_parse("8100-8000/tcp", &p, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "reversed"));
	assert_int_equal(spec_port_parse("80-/tcp", &p, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_port_parse("-80/tcp", &p, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_port_parse("80/TCP", &p, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_port_parse("80/http", &p, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "unknown protocol"));
	assert_int_equal(spec_port_parse("tcp/80", &p, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "write the port first (e.g. \"80/tcp\")"));
	assert_int_equal(spec_port_parse("8/icmp", &p, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_port_parse("", &p, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_port_parse("/tcp", &p, why, sizeof(why)), -EINVAL);
	assert_int_equal(spec_port_parse("1e3/tcp", &p, why, sizeof(why)), -EINVAL);

	s = parse_ok(POD_NET("{\"policy\":{\"ingress\":[],\"mode\":\"audit\"}}"));
	assert_true(s->has_policy);
	assert_true(s->policy.has_ingress);
	assert_int_equal(s->policy.n_ingress, 0); /* deny all ingress */
	assert_false(s->policy.has_egress);
	assert_int_equal(s->policy.mode, POLICY_AUDIT);
	pod_spec_free(s);
	s = parse_ok(POD_NET("{\"policy\":{\"egress\":[{\"ports\":[\"icmp\"]},{\"to\":[\"198.18.0.1\"]}]}}"));
	assert_int_equal(s->policy.n_egress, 2);
	assert_int_equal(s->policy.egress[0].n_peers, 0);
	assert_int_equal(s->policy.egress[0].n_ports, 1);
	assert_int_equal(s->policy.egress[1].n_ports, 0);
	pod_spec_free(s);

	expect_one(POD_NET("{\"policy\":{\"ingress\":[{\"ports\":[80]}]}}"),
		   "network.policy.ingress[0].ports[0]", "write \"80/tcp\"");
	expect_one(POD_NET("{\"policy\":{\"ingress\":[{\"ports\":[]}]}}"),
		   "network.policy.ingress[0].ports", "empty list matches nothing");
	expect_one(POD_NET("{\"policy\":{\"ingress\":[{\"from\":[]}]}}"),
		   "network.policy.ingress[0].from", "omit \"from\"");
	expect_one(POD_NET("{\"policy\":{\"ingress\":{}}}"), "network.policy.ingress",
		   "expected an array of rule objects");
	expect_one(POD_NET("{\"policy\":{\"ingress\":[\"all\"]}}"), "network.policy.ingress[0]",
		   "expected an object {from, ports}");
}

/* ---- units --------------------------------------------------------------------------------- */

static uint64_t cpu_of(const char *val)
{
	char doc[256];
	struct pod_spec *s;
	uint64_t v;

	snprintf(doc, sizeof(doc), POD_CTR("\"limits\":{\"cpu\":%s}"), val);
	s = parse_ok(doc);
	v = s->containers[0].limits.cpu_milli;
	pod_spec_free(s);
	return v;
}

static void test_units(void **state)
{
	struct pod_spec *s;
	(void)state;

	s = parse_ok(POD_CTR("\"limits\":{\"memory\":\"1Gi\",\"pids\":4194304},\"stop_grace\":\"500ms\""));
	assert_int_equal(s->containers[0].limits.memory, 1ULL << 30);
	assert_int_equal(s->containers[0].limits.pids, 4194304);
	assert_int_equal(s->containers[0].stop_grace_ms, 500);
	pod_spec_free(s);
	s = parse_ok(POD_CTR("\"limits\":{\"memory\":1048576},\"stop_grace\":\"0s\""));
	assert_int_equal(s->containers[0].limits.memory, 1048576);
	assert_int_equal(s->containers[0].stop_grace_ms, 0);
	pod_spec_free(s);

	assert_int_equal(cpu_of("\"500m\""), 500);
	assert_int_equal(cpu_of("\"0.5\""), 500);
	assert_int_equal(cpu_of("\"2\""), 2000);
	assert_int_equal(cpu_of("\"1.25\""), 1250);
	assert_int_equal(cpu_of("\"0.001\""), 1);
	assert_int_equal(cpu_of("\"0.1000\""), 100);
	assert_int_equal(cpu_of("2"), 2000);
	assert_int_equal(cpu_of("0.25"), 250);
	assert_int_equal(cpu_of("\"1024\""), 1024000);

	expect_one(POD_CTR("\"limits\":{\"memory\":\"12Q\"}"), "containers[0].limits.memory",
		   "\"12Q\": unknown unit (use Ki, Mi, Gi, Ti or k, M, G, T)");
	expect_one(POD_CTR("\"limits\":{\"memory\":\"Mi\"}"), "containers[0].limits.memory",
		   "not a size");
	expect_one(POD_CTR("\"limits\":{\"memory\":\"-1Mi\"}"), "containers[0].limits.memory",
		   "not a size");
	expect_one(POD_CTR("\"limits\":{\"memory\":\"0\"}"), "containers[0].limits.memory",
		   "greater than 0");
	expect_one(POD_CTR("\"limits\":{\"memory\":0}"), "containers[0].limits.memory",
		   "greater than 0");
	expect_one(POD_CTR("\"limits\":{\"memory\":\"99999999999999999999Ti\"}"),
		   "containers[0].limits.memory", "too large");
	expect_one(POD_CTR("\"limits\":{\"memory\":\"16777216Ti\"}"),
		   "containers[0].limits.memory", "too large");
	expect_one(POD_CTR("\"limits\":{\"memory\":true}"), "containers[0].limits.memory",
		   "expected a size string");
	expect_one(POD_CTR("\"limits\":{\"cpu\":\"0.0001\"}"), "containers[0].limits.cpu",
		   "finer than a millicore");
	expect_one(POD_CTR("\"limits\":{\"cpu\":\"0\"}"), "containers[0].limits.cpu",
		   "greater than 0");
	expect_one(POD_CTR("\"limits\":{\"cpu\":\"0m\"}"), "containers[0].limits.cpu",
		   "greater than 0");
	expect_one(POD_CTR("\"limits\":{\"cpu\":\"1025\"}"), "containers[0].limits.cpu",
		   "too large");
	expect_one(POD_CTR("\"limits\":{\"cpu\":\"99999999999999999999999m\"}"),
		   "containers[0].limits.cpu", "too large");
	expect_one(POD_CTR("\"limits\":{\"cpu\":\"1.\"}"), "containers[0].limits.cpu",
		   "not a CPU amount");
	expect_one(POD_CTR("\"limits\":{\"cpu\":\".5\"}"), "containers[0].limits.cpu",
		   "not a CPU amount");
	expect_one(POD_CTR("\"limits\":{\"cpu\":\"500 m\"}"), "containers[0].limits.cpu",
		   "not a CPU amount");
	expect_one(POD_CTR("\"limits\":{\"cpu\":-1}"), "containers[0].limits.cpu", "out of range");
	expect_one(POD_CTR("\"limits\":{\"cpu\":0.0004}"), "containers[0].limits.cpu",
		   "finer than a millicore");
	expect_one(POD_CTR("\"limits\":{\"pids\":\"128\"}"), "containers[0].limits.pids",
		   "expected an integer");
	expect_one(POD_CTR("\"limits\":{\"pids\":4194305}"), "containers[0].limits.pids",
		   "out of range");
	expect_one(POD_CTR("\"limits\":[]"), "containers[0].limits", "expected an object");
	expect_one(POD_CTR("\"stop_grace\":\"10\""), "containers[0].stop_grace", "missing unit");
	expect_one(POD_CTR("\"stop_grace\":\"10d\""), "containers[0].stop_grace", "not a duration");
	expect_one(POD_CTR("\"stop_grace\":\"99999999999999999h\""), "containers[0].stop_grace",
		   "too large");
	expect_one(POD_CTR("\"stop_grace\":10"), "containers[0].stop_grace",
		   "expected a duration string");
	expect_one("{\"name\":\"p\",\"volumes\":[{\"name\":\"t\",\"tmpfs\":\"64MB\"}],"
		   "\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}",
		   "volumes[0].tmpfs", "unknown unit");
}

static void test_signals(void **state)
{
	struct pod_spec *s;
	(void)state;

	assert_int_equal(spec_signal_parse("SIGTERM"), SIGTERM);
	assert_int_equal(spec_signal_parse("TERM"), SIGTERM);
	assert_int_equal(spec_signal_parse("sigint"), SIGINT);
	assert_int_equal(spec_signal_parse("15"), 15);
	assert_int_equal(spec_signal_parse("SIGKILL"), SIGKILL);
	assert_int_equal(spec_signal_parse("SIGRTMIN"), -EINVAL);
	assert_int_equal(spec_signal_parse("0"), -EINVAL);
	assert_int_equal(spec_signal_parse("65"), -EINVAL);
	assert_int_equal(spec_signal_parse("015"), -EINVAL);
	assert_int_equal(spec_signal_parse("15x"), -EINVAL);
	assert_int_equal(spec_signal_parse("SIG"), -EINVAL);
	assert_int_equal(spec_signal_parse(""), -EINVAL);
	assert_int_equal(spec_signal_parse(NULL), -EINVAL);

	s = parse_ok(POD_CTR("\"stop_signal\":\"QUIT\""));
	assert_int_equal(s->containers[0].stop_signal, SIGQUIT);
	pod_spec_free(s);
	expect_one(POD_CTR("\"stop_signal\":0"), "containers[0].stop_signal", "not a signal number");
	expect_one(POD_CTR("\"stop_signal\":[]"), "containers[0].stop_signal", "expected a signal");
}

/* ---- containers, volumes, mounts ---------------------------------------------------------- */

static void test_containers(void **state)
{
	struct pod_spec *s;
	(void)state;

	s = parse_ok(POD_CTR("\"env\":{\"B\":\"2\",\"A0\":\"x=y\",\"A\":\"\"},\"args\":[],"
			     "\"working_dir\":\"//srv/./app/\",\"tty\":true,\"user\":\"1000\""));
	assert_int_equal(strv_length(s->containers[0].env), 3);
	assert_string_equal(s->containers[0].env[0], "A=");
	assert_string_equal(s->containers[0].env[1], "A0=x=y");
	assert_string_equal(s->containers[0].env[2], "B=2");
	assert_non_null(s->containers[0].args);
	assert_int_equal(strv_length(s->containers[0].args), 0);
	assert_string_equal(s->containers[0].working_dir, "/srv/app");
	assert_true(s->containers[0].tty);
	pod_spec_free(s);

	s = parse_ok("{\"name\":\"p\",\"containers\":[{\"name\":\"a\",\"image\":\"docker.io/library/busybox@sha256:0123\"},"
		     "{\"name\":\"b\",\"image\":\"busybox\"}]}");
	assert_int_equal(s->n_containers, 2);
	pod_spec_free(s);

	expect_one(POD_CTR("\"command\":[]"), "containers[0].command", "empty command");
	expect_one(POD_CTR("\"command\":\"/bin/sh\""), "containers[0].command",
		   "expected an array of strings, got a string");
	expect_one(POD_CTR("\"args\":[\"a\",1,\"b\"]"), "containers[0].args[1]", "expected a string");
	expect_one(POD_CTR("\"env\":{\"\":\"x\"}"), "containers[0].env[\"\"]", "non-empty");
	expect_one(POD_CTR("\"env\":[\"A=B\"]"), "containers[0].env", "expected an object");
	expect_one(POD_CTR("\"user\":\"a b\""), "containers[0].user", "name|uid[:group|gid]");
	expect_one(POD_CTR("\"user\":\"1:2:3\""), "containers[0].user", "name|uid[:group|gid]");
	expect_one(POD_CTR("\"user\":\":1\""), "containers[0].user", "name|uid[:group|gid]");
	expect_one(POD_CTR("\"user\":\"1:\""), "containers[0].user", "name|uid[:group|gid]");
	expect_one(POD_CTR("\"working_dir\":\"/a/../b\""), "containers[0].working_dir", "\"..\"");
	expect_one("{\"name\":\"p\",\"containers\":[{\"name\":\"c\",\"image\":\"\"}]}",
		   "containers[0].image", "empty image reference");
	expect_one("{\"name\":\"p\",\"containers\":[{\"name\":\"c\",\"image\":\"web app\"}]}",
		   "containers[0].image", "not an image reference");
	expect_one("{\"name\":\"p\",\"containers\":[{\"name\":\"c\",\"image\":{\"rootfs\":\"x\"}}]}",
		   "containers[0].image.rootfs", "absolute");
	expect_one("{\"name\":\"p\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"},"
		   "{\"name\":\"c\",\"image\":\"y\"}]}",
		   "containers[1].name", "duplicate container name \"c\" (also containers[0])");
	expect_one("{\"name\":\"p\",\"containers\":{}}", "containers", "expected an array");
}

static void test_volumes_mounts(void **state)
{
	struct pod_spec *s;
	(void)state;

	/* containers before volumes in the document: mounts still find them */
	s = parse_ok("{\"containers\":[{\"name\":\"c\",\"image\":\"x\",\"mounts\":["
		     "{\"volume\":\"v\",\"path\":\"/a\",\"read_only\":true},"
		     "{\"volume\":\"v\",\"path\":\"/b\"}]}],"
		     "\"name\":\"p\",\"volumes\":[{\"name\":\"v\",\"host_path\":\"/srv//v/\"}]}");
	assert_int_equal(s->containers[0].n_mounts, 2);
	assert_true(s->containers[0].mounts[0].read_only);
	assert_false(s->containers[0].mounts[1].read_only);
	assert_string_equal(s->volumes[0].host_path, "/srv/v");
	pod_spec_free(s);

	expect_one(POD_CTR("\"mounts\":[{\"volume\":\"v\",\"path\":\"/a\"}]"),
		   "containers[0].mounts[0].volume", "no such volume (declare it in \"volumes\"");
	expect_one("{\"name\":\"p\",\"volumes\":[{\"name\":\"v\"}],\"containers\":[{\"name\":\"c\","
		   "\"image\":\"x\",\"mounts\":[{\"volume\":\"v\",\"path\":\"/a\"},"
		   "{\"volume\":\"v\",\"path\":\"/./a/\"}]}]}",
		   "containers[0].mounts[1].path", "duplicate mount path \"/a\"");
	/* the same path in two containers is fine */
	s = parse_ok("{\"name\":\"p\",\"volumes\":[{\"name\":\"v\"}],\"containers\":["
		     "{\"name\":\"a\",\"image\":\"x\",\"mounts\":[{\"volume\":\"v\",\"path\":\"/a\"}]},"
		     "{\"name\":\"b\",\"image\":\"x\",\"mounts\":[{\"volume\":\"v\",\"path\":\"/a\"}]}]}");
	pod_spec_free(s);
	expect_one("{\"name\":\"p\",\"volumes\":[{\"name\":\"v\"}],\"containers\":[{\"name\":\"c\","
		   "\"image\":\"x\",\"mounts\":[{\"volume\":\"v\",\"path\":\"a\"}]}]}",
		   "containers[0].mounts[0].path", "must be an absolute path");
	expect_one("{\"name\":\"p\",\"volumes\":[{\"name\":\"v\"}],\"containers\":[{\"name\":\"c\","
		   "\"image\":\"x\",\"mounts\":[{\"volume\":\"v\",\"path\":\"/\"}]}]}",
		   "containers[0].mounts[0].path", "over \"/\"");
	expect_one("{\"name\":\"p\",\"volumes\":[{\"name\":\"v\"}],\"containers\":[{\"name\":\"c\","
		   "\"image\":\"x\",\"mounts\":[{\"volume\":\"v\"}]}]}",
		   "containers[0].mounts[0].path", "required");
	expect_one("{\"name\":\"p\",\"volumes\":[{\"name\":\"v\"}],\"containers\":[{\"name\":\"c\","
		   "\"image\":\"x\",\"mounts\":[{\"volume\":\"v\",\"path\":\"/a\",\"read_only\":1}]}]}",
		   "containers[0].mounts[0].read_only", "expected true or false");
	expect_one("{\"name\":\"p\",\"volumes\":[{\"name\":\"v\",\"host_path\":\"/x\",\"tmpfs\":\"1Mi\"}],"
		   "\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}",
		   "volumes[0]", "exclude each other");
	expect_one("{\"name\":\"p\",\"volumes\":[{\"name\":\"v\"},{\"name\":\"v\"}],"
		   "\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}",
		   "volumes[1].name", "duplicate volume name");
	expect_one("{\"name\":\"p\",\"volumes\":[{}],\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}",
		   "volumes[0].name", "required");
	/* a broken "volumes" is reported once, not again for every mount */
	expect_one("{\"name\":\"p\",\"volumes\":{},\"containers\":[{\"name\":\"c\",\"image\":\"x\","
		   "\"mounts\":[{\"volume\":\"v\",\"path\":\"/a\"}]}]}",
		   "volumes", "expected an array");
}

/* ---- limits on input ----------------------------------------------------------------------- */

/* A policy direction takes 10,000 rules (one CIDR and one port each); more
 * than SPEC_RULES_MAX are refused with the path. */
static void test_policy_many_rules(void **state)
{
	json_t *doc, *rules, *errors;
	struct pod_spec *s;
	struct diag d = { 0 };
	(void)state;

	for (int n = 10000; n <= SPEC_RULES_MAX + 1; n += SPEC_RULES_MAX + 1 - 10000) {
		doc = load_text(POD_NET("{\"policy\":{\"ingress\":[]}}"));
		rules = json_object_get(json_object_get(json_object_get(doc, "network"), "policy"),
					"ingress");
		for (int i = 0; i < n; i++) {
			char cidr[32], port[16];

			snprintf(cidr, sizeof(cidr), "198.18.%d.%d/32", 128 + i / 256 % 128, i % 256);
			snprintf(port, sizeof(port), "%d/tcp", 1 + i % 65535);
			json_array_append_new(rules, json_pack("{s:[s], s:[s]}", "from", cidr,
							       "ports", port));
		}
		if (n == 10000) {
			s = parse_ok_json(doc);
			assert_int_equal(s->policy.n_ingress, 10000);
			assert_string_equal(s->policy.ingress[9999].peers[0].text, "198.18.167.15/32");
			pod_spec_free(s);
		} else {
			errors = parse_bad_json(doc, &d);
			expect_error(errors, "network.policy.ingress", "too many entries");
			json_decref(errors);
		}
	}
}

static void test_limits(void **state)
{
	char *big = malloc(SPEC_STRING_MAX + 200);
	json_t *doc, *errors;
	struct diag d = { 0 };
	(void)state;

	/* a string over the limit */
	assert_non_null(big);
	memset(big, 'a', SPEC_STRING_MAX + 1);
	big[SPEC_STRING_MAX + 1] = '\0';
	doc = load_text(POD_CTR("\"args\":[]"));
	json_array_append_new(json_object_get(json_array_get(json_object_get(doc, "containers"), 0),
					      "args"),
			      json_string(big));
	errors = parse_bad_json(doc, &d);
	expect_error(errors, "containers[0].args[0]", "too long");
	json_decref(errors);
	free(big);

	/* an embedded NUL */
	doc = load_text(POD_CTR("\"user\":\"ro\\u0000ot\""));
	errors = parse_bad_json(doc, &d);
	expect_error(errors, "containers[0].user", "NUL");
	json_decref(errors);

	/* too many containers */
	doc = load_text("{\"name\":\"p\",\"containers\":[]}");
	for (int i = 0; i < SPEC_CONTAINERS_MAX + 1; i++)
		json_array_append_new(json_object_get(doc, "containers"),
				      json_pack("{s:s, s:s}", "name", "c", "image", "x"));
	errors = parse_bad_json(doc, &d);
	expect_error(errors, "containers", "too many entries (17; at most 16)");
	json_decref(errors);

	/* more errors than reported */
	doc = load_text("{\"name\":\"p\",\"containers\":[{\"name\":\"c\",\"image\":\"x\",\"env\":{}}]}");
	for (int i = 0; i < 100; i++) {
		char key[32];

		snprintf(key, sizeof(key), "K%d", i);
		json_object_set_new(json_object_get(json_array_get(json_object_get(doc, "containers"), 0),
						    "env"),
				    key, json_integer(i));
	}
	errors = parse_bad_json(doc, &d);
	assert_int_equal(json_array_size(errors), SPEC_ERRORS_MAX + 1);
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(errors, SPEC_ERRORS_MAX),
								  "message")),
			       "more errors"));
	json_decref(errors);

	/* non-UTF-8 free, long keys: paths are cut and errors still build */
	doc = load_text(POD_CTR("\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\":1"));
	errors = parse_bad_json(doc, &d);
	assert_int_equal(json_array_size(errors), 1);
	json_decref(errors);
}

/* ---- garbage never crashes ----------------------------------------------------------------- */

static json_t *garbage_values[9];

static void garbage_init(void)
{
	garbage_values[0] = json_null();
	garbage_values[1] = json_true();
	garbage_values[2] = json_integer(-1);
	garbage_values[3] = json_real(1e300);
	garbage_values[4] = json_string("");
	garbage_values[5] = json_string("\xc3\xa9\\\"/..//%s%n");
	garbage_values[6] = json_array();
	garbage_values[7] = json_object();
	garbage_values[8] = json_pack("[{s:[i]}, s]", "x", 1, "y");
}

static void parse_any(const json_t *doc)
{
	struct pod_spec *s = NULL;
	json_t *errors = NULL;
	struct diag d = { 0 };
	int r = spec_parse(doc, &s, &errors, &d);

	if (r == 0) {
		assert_non_null(s);
		pod_spec_free(s);
	} else {
		assert_int_equal(r, -EINVAL);
		assert_true(json_array_size(errors) > 0);
		assert_true(json_array_size(errors) <= SPEC_ERRORS_MAX + 1);
		assert_int_equal(d.err, -EINVAL);
		json_decref(errors);
	}
}

/* Replace every value in the tree, one at a time, by every garbage value; parse each. */
static void mutate_walk(json_t *root, json_t *node, unsigned *count)
{
	if (json_is_object(node)) {
		_cleanup_strv_ char **keys = NULL;
		const char *key;
		json_t *v;

		/* snapshot the keys: deleting one frees the key a foreach would step from */
		json_object_foreach (node, key, v)
			assert_int_equal(strv_push(&keys, key), 0);
		for (size_t k = 0; keys && keys[k]; k++) {
			json_t *keep = json_incref(json_object_get(node, keys[k]));

			for (size_t g = 0; g < ARRAY_SIZE(garbage_values); g++) {
				json_object_set(node, keys[k], garbage_values[g]);
				parse_any(root);
				(*count)++;
			}
			json_object_del(node, keys[k]);
			parse_any(root);
			json_object_set_new(node, keys[k], keep);
			mutate_walk(root, keep, count);
		}
		json_object_set(node, "zzz", garbage_values[7]);
		parse_any(root);
		json_object_del(node, "zzz");
	} else if (json_is_array(node)) {
		for (size_t i = 0; i < json_array_size(node); i++) {
			json_t *keep = json_incref(json_array_get(node, i));

			for (size_t g = 0; g < ARRAY_SIZE(garbage_values); g++) {
				json_array_set(node, i, garbage_values[g]);
				parse_any(root);
				(*count)++;
			}
			json_array_set_new(node, i, keep);
			mutate_walk(root, keep, count);
		}
		json_array_append(node, garbage_values[8]);
		parse_any(root);
		json_array_remove(node, json_array_size(node) - 1);
	}
}

static void test_garbage(void **state)
{
	json_t *doc = load_file("design-example.json");
	json_t *doc2 = load_file("many-mistakes.json");
	struct pod_spec *s = NULL;
	unsigned count = 0;
	(void)state;

	garbage_init();
	for (size_t g = 0; g < ARRAY_SIZE(garbage_values); g++)
		parse_any(garbage_values[g]);
	assert_int_equal(spec_parse(NULL, &s, NULL, NULL), -EINVAL);
	mutate_walk(doc, doc, &count);
	mutate_walk(doc2, doc2, &count);
	assert_true(count > 500);
	/* after all that, the documents are back to what they were */
	s = parse_ok_json(doc);
	pod_spec_free(s);
	json_decref(doc2);
	for (size_t g = 0; g < ARRAY_SIZE(garbage_values); g++)
		json_decref(garbage_values[g]);
}

static void test_security_fields(void **state)
{
	struct pod_spec *s;
	json_t *errors;

	(void)state;
	s = parse_ok("{\"name\": \"p\", \"share_pid\": true, \"containers\": [{\"name\": \"c\", "
		     "\"image\": \"oci:/x\", \"capabilities\": {\"add\": [\"NET_RAW\", "
		     "\"cap_net_admin\"], \"drop\": [\"ALL\"]}, \"seccomp\": \"unconfined\", "
		     "\"pull\": \"never\"}]}");
	assert_true(s->share_pid);
	assert_string_equal(s->containers[0].cap_add[0], "NET_RAW");
	assert_string_equal(s->containers[0].cap_add[1], "cap_net_admin");
	assert_string_equal(s->containers[0].cap_drop[0], "ALL");
	assert_true(s->containers[0].seccomp_unconfined);
	assert_int_equal(s->containers[0].pull, PULL_NEVER);
	pod_spec_free(s);
	errors = parse_bad("{\"name\": \"p\", \"share_pid\": 1, \"containers\": [{\"name\": \"c\", "
			   "\"image\": \"oci:/x\", \"capabilities\": {\"add\": [\"NET_RAW\", "
			   "\"FLY\"], \"keep\": []}, \"seccomp\": \"off\", \"pull\": \"sometimes\"}]}");
	expect_error(errors, "share_pid", "true or false");
	expect_error(errors, "containers[0].capabilities.add[1]", "unknown capability");
	expect_error(errors, "containers[0].capabilities.keep", "unknown key");
	expect_error(errors, "containers[0].seccomp", "unconfined");
	expect_error(errors, "containers[0].pull", "if_not_present");
	json_decref(errors);
}

/* Host facts (netkit, pools) are errors at their paths, in the same pass as every other. */
static void test_host_facts(void **state)
{
	static const char *const pools[] = { "lan", "lan6", NULL };
	const struct spec_host host = { .netkit = false, .pools = pools };
	const struct spec_host netkit_host = { .netkit = true, .pools = pools };
	const struct spec_host no_pools = { .netkit = true, .pools = NULL };
	const char *text =
		"{\"name\": \"Bad_Name\", \"network\": {\"nics\": ["
		"{\"name\": \"eth0\", \"mode\": \"netkit\", \"ip\": {\"ipam\": \"lan\"}},"
		"{\"name\": \"eth1\", \"mode\": \"veth\", \"ip\": [{\"ipam\": \"lan6\"}, "
		"{\"ipam\": \"nosuch\"}, \"ipam\"]}]},"
		"\"containers\": [{\"name\": \"c\", \"image\": \"oci:/x\"}]}";
	const char *good =
		"{\"name\": \"p\", \"network\": {\"nics\": ["
		"{\"name\": \"eth0\", \"mode\": \"netkit\", \"ip\": [{\"ipam\": \"lan\"}, "
		"{\"ipam\": \"lan6\"}]}]},"
		"\"containers\": [{\"name\": \"c\", \"image\": \"oci:/x\"}]}";
	struct pod_spec *s = NULL;
	json_t *errors = NULL, *doc;
	(void)state;

	/* without host facts the same document has one error: the name */
	doc = load_text(text);
	assert_int_equal(spec_parse(doc, &s, &errors, NULL), -EINVAL);
	assert_int_equal(json_array_size(errors), 1);
	expect_error(errors, "name", NULL);
	json_decref(errors);

	/* with them: all four at once, each at its own path */
	errors = NULL;
	assert_int_equal(spec_parse_host(doc, &host, &s, &errors, NULL), -EINVAL);
	assert_null(s);
	expect_error(errors, "name", NULL);
	expect_error(errors, "network.nics[0].mode",
		     "\"netkit\": this kernel has no netkit links");
	expect_error(errors, "network.nics[1].ip[1].ipam",
		     "unknown pool \"nosuch\" (configured: lan, lan6)");
	expect_error(errors, "network.nics[1].ip[2]", "unknown pool \"default\"");
	assert_int_equal(json_array_size(errors), 4);
	json_decref(errors);
	json_decref(doc);

	/* the first and every further pool of a NIC are checked; known ones pass */
	doc = load_text(good);
	errors = NULL;
	assert_int_equal(spec_parse_host(doc, &netkit_host, &s, &errors, NULL), 0);
	assert_null(errors);
	assert_string_equal(s->nics[0].ipam, "lan");
	assert_string_equal(s->nics[0].ipam_more[0], "lan6");
	pod_spec_free(s);
	s = NULL;
	assert_int_equal(spec_parse_host(doc, &host, &s, &errors, NULL), -EINVAL);
	assert_int_equal(json_array_size(errors), 1);
	expect_error(errors, "network.nics[0].mode", "use \"veth\"");
	json_decref(errors);
	errors = NULL;
	assert_int_equal(spec_parse_host(doc, &no_pools, &s, &errors, NULL), -EINVAL);
	assert_int_equal(json_array_size(errors), 2);
	expect_error(errors, "network.nics[0].ip[0].ipam", "tankd has no IPAM pools");
	expect_error(errors, "network.nics[0].ip[1].ipam", "add pool.lan6.subnet");
	json_decref(errors);
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_design_example),
		cmocka_unit_test(test_walking_skeleton),
		cmocka_unit_test(test_host_network_file),
		cmocka_unit_test(test_many_mistakes),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_restart_values),
		cmocka_unit_test(test_network_modes),
		cmocka_unit_test(test_nics),
		cmocka_unit_test(test_cidrs),
		cmocka_unit_test(test_ports),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_containers),
		cmocka_unit_test(test_volumes_mounts),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_policy_many_rules),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_security_fields),
		cmocka_unit_test(test_host_facts),
	};

	find_data_dir();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
