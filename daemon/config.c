/* config.c - tankd's configuration: defaults, `key = value` file, flag overrides. */
#include <ctype.h>
#include <fcntl.h>
#include <string.h>

#include "daemon/metrics.h"
#include "daemon/tankd.h"

void config_defaults(struct tankd_config *c)
{
	memset(c, 0, sizeof(*c));
	c->data_dir = strdup("/var/lib/tank");
	c->run_dir = strdup("/run/tank");
	c->bpf_dir = strdup("/sys/fs/bpf/tank");
	c->netns_dir = strdup("/run/netns");
	c->cgroup_root = strdup("/sys/fs/cgroup");
	c->cgroup_name = strdup("tank");
	c->socket_group = strdup("tank");
	c->seed_dir = strdup("/etc/tank/pods.d");
	c->resync_ms = 2000;
	c->plan.backoff_base_ms = 10000;
	c->plan.backoff_max_ms = 300000;
	c->plan.backoff_reset_ms = 600000;
	c->log_level = LOG_LVL_INFO;
	c->uplink = strdup("");
	c->host_shim = strdup(NP_HOSTSHIM_NAME);
	c->dns_domain = strdup(NP_DNS_DOMAIN);
	c->dns = true;
	c->log_max_size = 10 << 20;
	c->log_max_files = 5;
	c->log_max_line = 16384;
	c->pull_parallel = 3;
	c->image_max_unpacked = OCI_IMAGE_UNPACKED_MAX;
	c->tombstone_ttl_ms = 3600 * 1000;
}

void config_free(struct tankd_config *c)
{
	free(c->data_dir);
	free(c->run_dir);
	free(c->socket_path);
	free(c->bpf_dir);
	free(c->netns_dir);
	free(c->cgroup_root);
	free(c->cgroup_name);
	free(c->socket_group);
	free(c->shim_path);
	free(c->seed_dir);
	free(c->uplink);
	free(c->host_shim);
	free(c->dns_domain);
	strv_free(c->dns_upstream);
	strv_free(c->dns_listen);
	free(c->pools);
	for (size_t i = 0; i < c->n_registries; i++) {
		free(c->registries[i].host);
		free(c->registries[i].ca_file);
		strv_free(c->registries[i].mirrors);
	}
	free(c->registries);
	free(c->auth_file);
	free(c->metrics_listen);
}

/* registry.<host>.{insecure,ca_file,mirrors}: the host may contain dots and a port, so the
 * setting is what follows the last dot. */
static int set_registry(struct tankd_config *c, const char *key, const char *v, struct diag *d)
{
	const char *host = key + 9, *dot = strrchr(host, '.');
	struct tankd_registry *r = NULL;
	_cleanup_free_ char *h = NULL;

	if (!dot || dot == host || dot - host > 253)
		return diag_fail(d, -EINVAL, "%s: expected registry.<host>.<setting>", key);
	h = strndup(host, (size_t)(dot - host));
	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_registries; i++)
		if (!strcmp(c->registries[i].host, h))
			r = &c->registries[i];
	if (!r) {
		struct tankd_registry *n = realloc(c->registries, (c->n_registries + 1) * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->registries = n;
		r = &c->registries[c->n_registries++];
		memset(r, 0, sizeof(*r));
		r->host = TAKE_PTR(h);
	}
	if (!strcmp(dot + 1, "insecure")) {
		if (strcmp(v, "true") && strcmp(v, "false"))
			return diag_fail(d, -EINVAL, "%s: \"%s\" (use true or false)", key, v);
		r->insecure = !strcmp(v, "true");
		return 0;
	}
	if (!strcmp(dot + 1, "ca_file")) {
		if (v[0] != '/')
			return diag_fail(d, -EINVAL, "%s: \"%s\" is not an absolute path", key, v);
		free(r->ca_file);
		r->ca_file = strdup(v);
		return r->ca_file ? 0 : -ENOMEM;
	}
	if (!strcmp(dot + 1, "mirrors")) {
		_cleanup_free_ char *list = strdup(v);
		char *save = NULL;

		strv_free(r->mirrors);
		r->mirrors = calloc(1, sizeof(char *));
		for (char *m = list ? strtok_r(list, ", ", &save) : NULL; m; m = strtok_r(NULL, ", ", &save))
			if (strv_push(&r->mirrors, m) < 0)
				return -ENOMEM;
		return 0;
	}
	return diag_fail(d, -EINVAL, "%s: unknown setting (use insecure, ca_file or mirrors)", key);
}

const struct np_ipam_pool *config_pool(const struct tankd_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_pools; i++)
		if (!strcmp(c->pools[i].name, name))
			return &c->pools[i];
	return NULL;
}

/* pool.<name>.subnet = CIDR starts a pool; pool.<name>.{gateway,range,dns,domain,reserve}
 * then set its fields (np_ipam_pool_set checks each against the subnet):
 *   pool.lan.reserve = 198.18.0.50 web/eth0   the NIC eth0 of the pod named web always gets
 *                                              198.18.0.50 from this pool (whatever its uid:
 *                                              also after a delete and apply); nobody else does
 *   pool.lan.domain = lan.example              the embedded DNS answers <pod>.lan.example for
 *                                              this pool's addresses; pods in it search there */
static int set_pool(struct tankd_config *c, const char *key, const char *v, struct diag *d)
{
	const char *name = key + 5, *dot = strchr(name, '.');
	char pname[NP_IPAM_NAME_MAX];
	struct np_ipam_pool *p;

	if (!dot || dot == name || (size_t)(dot - name) >= sizeof(pname))
		return diag_fail(d, -EINVAL, "%s: expected pool.<name>.<setting>", key);
	snprintf(pname, sizeof(pname), "%.*s", (int)(dot - name), name);
	if (!spec_name_is_valid(pname))
		return diag_fail(d, -EINVAL, "%s: pool name \"%s\" must be a DNS label", key, pname);
	p = (struct np_ipam_pool *)config_pool(c, pname);
	if (!strcmp(dot + 1, "subnet")) {
		struct np_ipam_pool *np;

		if (p)
			return diag_fail(d, -EINVAL, "%s: pool \"%s\" has a subnet already", key,
					 pname);
		if (c->n_pools >= 64)
			return diag_fail(d, -EINVAL, "%s: at most 64 pools", key);
		np = realloc(c->pools, (c->n_pools + 1) * sizeof(*np));
		if (!np)
			return -ENOMEM;
		c->pools = np;
		p = &c->pools[c->n_pools];
		memset(p, 0, sizeof(*p));
		if (np_ipam_pool_init(p, pname, v, d) < 0) {
			diag_prefix(d, "%s: ", key);
			return -EINVAL;
		}
		c->n_pools++;
		return 0;
	}
	if (!p)
		return diag_fail(d, -EINVAL, "%s: set pool.%s.subnet first", key, pname);
	if (np_ipam_pool_set(p, dot + 1, v, d) < 0) {
		diag_prefix(d, "%s: ", key);
		return -EINVAL;
	}
	return 0;
}

static int set_str(char **slot, const char *v)
{
	free(*slot);
	*slot = strdup(v);
	return *slot ? 0 : -ENOMEM;
}

static int set_path(char **slot, const char *key, const char *v, struct diag *d)
{
	if (v[0] != '/')
		return diag_fail(d, -EINVAL, "%s: \"%s\" is not an absolute path", key, v);
	if (strlen(v) > 200)
		return diag_fail(d, -EINVAL, "%s: path longer than 200 characters", key);
	free(*slot);
	*slot = strdup(v);
	return *slot ? 0 : -ENOMEM;
}

static int set_ms(uint64_t *slot, const char *key, const char *v, struct diag *d)
{
	uint64_t ms;

	if (parse_duration_ms(v, &ms) < 0 || ms == 0)
		return diag_fail(d, -EINVAL, "%s: \"%s\" is not a duration (e.g. 500ms, 10s, 5m)",
				 key, v);
	*slot = ms;
	return 0;
}

static int set_u32(uint32_t *slot, const char *key, const char *v, uint32_t max, struct diag *d)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);

	if (*end || !*v || n > max)
		return diag_fail(d, -EINVAL, "%s: \"%s\" (a number 0..%u, 0: the default)", key, v,
				 max);
	*slot = (uint32_t)n;
	return 0;
}

/* The BPF datapath's keys (metrics, tombstones, drop events); 1 when key is not one of them. */
static int set_datapath(struct tankd_config *c, const char *key, const char *v, struct diag *d)
{
	if (!strcmp(key, "metrics_listen")) {
		struct sockaddr_storage sa;
		socklen_t salen;

		if (strlen(v) > 64)
			return diag_fail(d, -EINVAL, "metrics_listen: longer than 64 characters");
		/* checked here, so that a typo is a config error, not a failure at start */
		if (*v && strcmp(v, "off") && metrics_addr_parse(v, &sa, &salen) < 0)
			return diag_fail(d, -EINVAL, "metrics_listen: \"%s\" (use ADDR:PORT, e.g. "
						     "127.0.0.1:9464 or [::1]:9464, or off)", v);
		free(c->metrics_listen);
		c->metrics_listen = *v && strcmp(v, "off") ? strdup(v) : NULL;
		return 0;
	}
	if (!strcmp(key, "metrics_allow_remote")) {
		if (strcmp(v, "true") && strcmp(v, "false"))
			return diag_fail(d, -EINVAL, "%s: \"%s\" (use true or false)", key, v);
		c->metrics_allow_remote = !strcmp(v, "true");
		return 0;
	}
	if (!strcmp(key, "tombstone_ttl"))
		return set_ms(&c->tombstone_ttl_ms, key, v, d);
	if (!strcmp(key, "drop_events_rate"))
		return set_u32(&c->drop_events_rate, key, v, 1000000, d);
	if (!strcmp(key, "drop_events_burst"))
		return set_u32(&c->drop_events_burst, key, v, 1000000, d);
	if (!strcmp(key, "drop_events_sample"))
		return set_u32(&c->drop_events_sample, key, v, 1000000, d);
	return 1;
}

int config_set(struct tankd_config *c, const char *key, const char *v, struct diag *d)
{
	int r = set_datapath(c, key, v, d);

	if (r <= 0)
		return r;
	if (!strcmp(key, "data_dir"))
		return set_path(&c->data_dir, key, v, d);
	if (!strcmp(key, "run_dir"))
		return set_path(&c->run_dir, key, v, d);
	if (!strcmp(key, "socket"))
		return set_path(&c->socket_path, key, v, d);
	if (!strcmp(key, "socket_group")) {
		/* "" = root only; a group that does not exist leaves the socket root's */
		if (strlen(v) > 32 || strchr(v, ':') || strchr(v, '/'))
			return diag_fail(d, -EINVAL, "socket_group: \"%s\" is not a group name", v);
		return set_str(&c->socket_group, v);
	}
	if (!strcmp(key, "bpf_dir"))
		return set_path(&c->bpf_dir, key, v, d);
	if (!strcmp(key, "netns_dir"))
		return set_path(&c->netns_dir, key, v, d);
	if (!strcmp(key, "cgroup_root"))
		return set_path(&c->cgroup_root, key, v, d);
	if (!strcmp(key, "shim"))
		return set_path(&c->shim_path, key, v, d);
	if (!strcmp(key, "seed_dir"))
		return set_path(&c->seed_dir, key, v, d);
	if (!strcmp(key, "cgroup_name")) {
		if (!spec_name_is_valid(v))
			return diag_fail(d, -EINVAL,
					 "cgroup_name: \"%s\" must be a DNS label ([a-z0-9-], <= 63)",
					 v);
		free(c->cgroup_name);
		c->cgroup_name = strdup(v);
		return c->cgroup_name ? 0 : -ENOMEM;
	}
	if (!strncmp(key, "pool.", 5))
		return set_pool(c, key, v, d);
	if (!strncmp(key, "registry.", 9))
		return set_registry(c, key, v, d);
	if (!strcmp(key, "auth_file"))
		return set_path(&c->auth_file, key, v, d);
	if (!strcmp(key, "pull_parallel")) {
		char *end;
		unsigned long n = strtoul(v, &end, 10);

		if (*end || !*v || n < 1 || n > 16)
			return diag_fail(d, -EINVAL, "pull_parallel: \"%s\" (a number 1..16)", v);
		c->pull_parallel = (unsigned int)n;
		return 0;
	}
	if (!strcmp(key, "image_max_unpacked")) {
		if (parse_size(v, &c->image_max_unpacked) < 0 || c->image_max_unpacked < 4096)
			return diag_fail(d, -EINVAL,
					 "image_max_unpacked: \"%s\" (a size such as 16Gi, >= 4Ki)", v);
		return 0;
	}
	if (!strcmp(key, "uplink") || !strcmp(key, "host_shim")) {
		if (strlen(v) > 15 || strchr(v, '/') || (!*v && !strcmp(key, "host_shim")))
			return diag_fail(d, -EINVAL, "%s: \"%s\" is not an interface name", key, v);
		return set_str(!strcmp(key, "uplink") ? &c->uplink : &c->host_shim, v);
	}
	if (!strcmp(key, "dns_domain")) {
		if (!*v || strlen(v) > 200 || strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789-.") != strlen(v))
			return diag_fail(d, -EINVAL, "dns_domain: \"%s\" is not a domain name", v);
		return set_str(&c->dns_domain, v);
	}
	if (!strcmp(key, "dns")) {
		if (strcmp(v, "on") && strcmp(v, "off"))
			return diag_fail(d, -EINVAL, "dns: \"%s\" (use on or off)", v);
		c->dns = !strcmp(v, "on");
		return 0;
	}
	if (!strcmp(key, "dns_listen")) {
		/* dns_listen = ADDR[, ADDR...] (repeatable): where the embedded DNS listens, and
		 * what pods get as nameservers (those of the families they have addresses in) */
		_cleanup_free_ char *list = strdup(v);
		char *save = NULL;

		if (!list)
			return -ENOMEM;
		for (char *a = strtok_r(list, ", \t", &save); a; a = strtok_r(NULL, ", \t", &save)) {
			struct np_addr x;

			if (np_addr_parse(a, &x) < 0 || strchr(a, '/'))
				return diag_fail(d, -EINVAL, "dns_listen: \"%s\" is not an address",
						 a);
			if (strv_length(c->dns_listen) >= 8)
				return diag_fail(d, -EINVAL, "dns_listen: at most 8 addresses");
			if (strv_push(&c->dns_listen, a) < 0)
				return -ENOMEM;
		}
		return 0;
	}
	if (!strcmp(key, "dns_upstream")) {
		struct np_addr a;

		if (np_addr_parse(v, &a) < 0)
			return diag_fail(d, -EINVAL, "dns_upstream: \"%s\" is not an address", v);
		if (strv_length(c->dns_upstream) >= 4)
			return diag_fail(d, -EINVAL, "dns_upstream: at most 4");
		return strv_push(&c->dns_upstream, v);
	}
	if (!strcmp(key, "log_max_size")) {
		if (parse_size(v, &c->log_max_size) < 0 || c->log_max_size < 4096)
			return diag_fail(d, -EINVAL, "log_max_size: \"%s\" (a size >= 4Ki, e.g. 10Mi)", v);
		return 0;
	}
	if (!strcmp(key, "log_max_line")) {
		/* the shim's bounds (SHIM_LINE_MIN, SHIM_LINE_MAX) */
		if (parse_size(v, &c->log_max_line) < 0 || c->log_max_line < 128 ||
		    c->log_max_line > (256u << 10))
			return diag_fail(d, -EINVAL,
					 "log_max_line: \"%s\" (a size from 128 to 256Ki, e.g. 16Ki)", v);
		return 0;
	}
	if (!strcmp(key, "log_max_files")) {
		char *end;
		unsigned long n = strtoul(v, &end, 10);

		if (*end || !*v || n < 1 || n > 100)
			return diag_fail(d, -EINVAL, "log_max_files: \"%s\" (a number 1..100)", v);
		c->log_max_files = (unsigned int)n;
		return 0;
	}
	if (!strcmp(key, "resync_interval"))
		return set_ms(&c->resync_ms, key, v, d);
	if (!strcmp(key, "backoff_base"))
		return set_ms(&c->plan.backoff_base_ms, key, v, d);
	if (!strcmp(key, "backoff_max"))
		return set_ms(&c->plan.backoff_max_ms, key, v, d);
	if (!strcmp(key, "backoff_reset"))
		return set_ms(&c->plan.backoff_reset_ms, key, v, d);
	if (!strcmp(key, "log_level")) {
		if (log_parse_level(v, &c->log_level) < 0)
			return diag_fail(d, -EINVAL,
					 "log_level: \"%s\" (use error, warn, info or debug)", v);
		return 0;
	}
	return diag_fail(d, -EINVAL,
			 "unknown key \"%s\" (valid: data_dir, run_dir, socket, socket_group, bpf_dir, "
			 "netns_dir, cgroup_root, cgroup_name, shim, seed_dir, resync_interval, backoff_base, "
			 "backoff_max, backoff_reset, log_level, log_max_size, log_max_files, log_max_line, "
			 "uplink, "
			 "host_shim, dns, dns_domain, dns_listen, "
			 "dns_upstream, pool.<name>.{subnet,gateway,range,dns,domain,reserve}, auth_file, "
			 "pull_parallel, image_max_unpacked, registry.<host>.{insecure,ca_file,mirrors}, metrics_listen, "
			 "metrics_allow_remote, tombstone_ttl, drop_events_rate, drop_events_burst, "
			 "drop_events_sample)",
			 key);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

int config_load(const char *path, bool must_exist, struct tankd_config *c, struct diag *d)
{
	_cleanup_free_ char *buf = NULL;
	char *save = NULL, *line;
	unsigned int lineno = 0;
	int r = fs_read_all(AT_FDCWD, path, 1 << 20, &buf, NULL);

	if (r == -ENOENT && !must_exist)
		return 0;
	if (r < 0)
		return diag_fail(d, r, "config %s: %s", path, strerror(-r));
	/* strtok_r would skip empty lines and so miscount: split by hand */
	for (line = buf; line; line = save) {
		char *eq, *key, *val;

		save = strchr(line, '\n');
		if (save)
			*save++ = '\0';
		lineno++;
		line = trim(line);
		if (!*line || *line == '#')
			continue;
		eq = strchr(line, '=');
		if (!eq)
			return diag_fail(d, -EINVAL, "config %s:%u: expected `key = value`", path,
					 lineno);
		*eq = '\0';
		key = trim(line);
		val = trim(eq + 1);
		r = config_set(c, key, val, d);
		if (r < 0) {
			diag_prefix(d, "config %s:%u: ", path, lineno);
			return r;
		}
	}
	return 0;
}
