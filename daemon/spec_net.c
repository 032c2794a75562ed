/* spec_net.c - pod spec value syntax (names, signals, CIDRs, ports, MACs) and the network part. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define TANK_SPEC_INTERNAL
#include "daemon/spec.h"
#include "netplane/netplane.h"

#define WHY(...) (snprintf(why, whylen, __VA_ARGS__), -EINVAL)

/* Digits only, no sign, no leading zero (except "0"), value <= max. */
static int parse_uint_strict(const char *s, size_t len, unsigned long max, unsigned long *ret)
{
	unsigned long v = 0;

	if (len == 0 || len > 10 || (len > 1 && s[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

static bool addr_is_zero(const unsigned char *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i])
			return false;
	return true;
}

static bool host_bits_set(const unsigned char *a, size_t n, unsigned prefix)
{
	for (size_t i = 0; i < n; i++) {
		unsigned bits = prefix >= (i + 1) * 8 ? 8 : prefix > i * 8 ? prefix - i * 8 : 0;
		unsigned char mask = bits ? (unsigned char)(0xff << (8 - bits)) : 0;

		if (a[i] & ~mask)
			return true;
	}
	return false;
}

static void mask_host_bits(unsigned char *a, size_t n, unsigned prefix)
{
	for (size_t i = 0; i < n; i++) {
		unsigned bits = prefix >= (i + 1) * 8 ? 8 : prefix > i * 8 ? prefix - i * 8 : 0;

		a[i] &= bits ? (unsigned char)(0xff << (8 - bits)) : 0;
	}
}

int spec_cidr_parse(const char *s, enum spec_cidr_kind kind, struct spec_cidr *ret, char *why,
		    size_t whylen)
{
	struct spec_cidr c = { 0 };
	char addr[INET6_ADDRSTRLEN + 1], canon[INET6_ADDRSTRLEN];
	const char *slash;
	size_t alen, addrlen;
	unsigned maxp;
	unsigned long prefix;

	if (!s || !*s)
		return WHY("empty address");
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(addr))
		return WHY("not an IPv4 or IPv6 address");
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, c.addr) == 1) {
		c.family = AF_INET;
		maxp = 32;
		addrlen = 4;
	} else if (inet_pton(AF_INET6, addr, c.addr) == 1) {
		c.family = AF_INET6;
		maxp = 128;
		addrlen = 16;
	} else {
		return WHY("not an IPv4 or IPv6 address (e.g. 198.18.0.10 or 2001:db8::10)");
	}
	if (slash && kind == SPEC_CIDR_ADDR)
		return WHY("expected a plain address without a prefix length");
	if (!slash && kind == SPEC_CIDR_IFADDR)
		return WHY("missing prefix length (e.g. %s/%u)", addr,
			   c.family == AF_INET ? 24u : 64u);
	if (slash) {
		int r = parse_uint_strict(slash + 1, strlen(slash + 1), maxp, &prefix);

		if (r == -ERANGE || (r == 0 && prefix > maxp))
			return WHY("prefix length %s is out of range (0-%u for %s)", slash + 1,
				   maxp, c.family == AF_INET ? "IPv4" : "IPv6");
		if (r < 0)
			return WHY("\"/%.16s\" is not a prefix length (a number 0-%u)", slash + 1,
				   maxp);
	} else {
		prefix = maxp;
	}
	c.prefix = (uint8_t)prefix;

	switch (kind) {
	case SPEC_CIDR_IFADDR:
		if (prefix == 0)
			return WHY("prefix length 0 is not valid for an interface address");
		/* fallthrough */
	case SPEC_CIDR_ADDR:
		if (addr_is_zero(c.addr, addrlen))
			return WHY("the unspecified address cannot be used here");
		if ((c.family == AF_INET && (c.addr[0] & 0xf0) == 0xe0) ||
		    (c.family == AF_INET6 && c.addr[0] == 0xff))
			return WHY("a multicast address cannot be used here");
		if (kind == SPEC_CIDR_IFADDR &&
		    ((c.family == AF_INET && c.addr[0] == 127) ||
		     (c.family == AF_INET6 && c.addr[15] == 1 && addr_is_zero(c.addr, 15))))
			return WHY("a loopback address cannot be given to a NIC (lo is always up)");
		break;
	case SPEC_CIDR_PEER:
		if (host_bits_set(c.addr, addrlen, c.prefix)) {
			unsigned char net[16];

			memcpy(net, c.addr, sizeof(net));
			mask_host_bits(net, addrlen, c.prefix);
			inet_ntop(c.family, net, canon, sizeof(canon));
			return WHY("host bits are set; did you mean %s/%u?", canon, c.prefix);
		}
		break;
	}
	inet_ntop(c.family, c.addr, canon, sizeof(canon));
	if (kind == SPEC_CIDR_ADDR)
		snprintf(c.text, sizeof(c.text), "%s", canon);
	else
		snprintf(c.text, sizeof(c.text), "%s/%u", canon, c.prefix);
	*ret = c;
	return 0;
}

static const struct {
	const char *name;
	uint8_t proto;
	bool has_ports;
} protos[] = {
	{ "tcp", IPPROTO_TCP, true },	     { "udp", IPPROTO_UDP, true },
	{ "sctp", IPPROTO_SCTP, true },	     { "icmp", IPPROTO_ICMP, false },
	{ "icmpv6", IPPROTO_ICMPV6, false },
};

int spec_port_parse(const char *s, struct spec_port_range *ret, char *why, size_t whylen)
{
	struct spec_port_range pr = { 0 };
	const char *slash, *proto, *dash;
	size_t plen;
	unsigned long first, last;
	size_t i;

	if (!s || !*s)
		return WHY("empty port entry (use e.g. \"80/tcp\", \"8000-8100/tcp\", \"53/udp\", "
			   "\"icmp\")");
	slash = strchr(s, '/');
	proto = slash ? slash + 1 : s;
	for (i = 0; i < ARRAY_SIZE(protos); i++)
		if (strcmp(proto, protos[i].name) == 0)
			break;
	if (i == ARRAY_SIZE(protos)) {
		for (size_t j = 0; slash && j < ARRAY_SIZE(protos); j++)
			if (strlen(protos[j].name) == (size_t)(slash - s) &&
			    strncmp(s, protos[j].name, (size_t)(slash - s)) == 0)
				return WHY("write the port first (e.g. \"%.16s/%s\")", proto,
					   protos[j].name);
		if (!slash && isdigit((unsigned char)s[0]))
			return WHY("missing protocol (e.g. \"%.16s/tcp\" or \"%.16s/udp\")", s, s);
		return WHY("unknown protocol \"%.16s\" (use tcp, udp, sctp, icmp or icmpv6)",
			   proto);
	}
	pr.proto = protos[i].proto;
	if (!slash) {
		pr.first = 0;
		pr.last = protos[i].has_ports ? 65535 : 0;
		*ret = pr;
		return 0;
	}
	if (!protos[i].has_ports)
		return WHY("%s has no ports; write just \"%s\"", protos[i].name, protos[i].name);
	plen = (size_t)(slash - s);
	dash = memchr(s, '-', plen);
	if (parse_uint_strict(s, dash ? (size_t)(dash - s) : plen, 65535, &first) < 0 ||
	    (dash && parse_uint_strict(dash + 1, (size_t)(slash - dash - 1), 65535, &last) < 0))
		return WHY("ports are numbers 1-65535, or a range like \"8000-8100/%s\"",
			   protos[i].name);
	if (!dash)
		last = first;
	if (first == 0)
		return WHY("port 0 is not a port (use 1-65535)");
	if (first > last)
		return WHY("range %lu-%lu is reversed (write %lu-%lu)", first, last, last, first);
	pr.first = (uint16_t)first;
	pr.last = (uint16_t)last;
	*ret = pr;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int spec_mac_parse(const char *s, unsigned char ret[6], char *why, size_t whylen)
{
	unsigned char m[6];

	if (!s || strlen(s) != 17)
		return WHY("expected six hex bytes separated by ':' (e.g. 02:00:c6:12:00:0a)");
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[i * 3]), lo = hexval(s[i * 3 + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != ':'))
			return WHY("expected six hex bytes separated by ':' (e.g. "
				   "02:00:c6:12:00:0a)");
		m[i] = (unsigned char)(hi << 4 | lo);
	}
	if (m[0] & 1)
		return WHY("a multicast MAC address (lowest bit of the first byte set) cannot be "
			   "used; e.g. 02:... is a locally administered unicast address");
	if (addr_is_zero(m, 6))
		return WHY("the all-zero MAC address cannot be used");
	memcpy(ret, m, 6);
	return 0;
}

const char *spec_ifname_problem(const char *s)
{
	size_t n;

	if (!s || !*s)
		return "an interface name cannot be empty";
	n = strlen(s);
	if (n > 15)
		return "an interface name has at most 15 characters";
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return "\".\" and \"..\" are not interface names";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '/' || c == ':' || isspace(c) || c < 0x20 || c >= 0x7f)
			return "an interface name cannot contain '/', ':', whitespace or "
			       "non-ASCII characters";
	}
	return NULL;
}

/* ---- names, signals, enums ------------------------------------------------------------------ */

const char *spec_name_problem(const char *s)
{
	size_t n;

	if (!s || !*s)
		return "a name cannot be empty";
	n = strlen(s);
	if (n > SPEC_NAME_MAX)
		return "too long: a name has at most 63 characters (a DNS label)";
	for (size_t i = 0; i < n; i++) {
		if (isupper((unsigned char)s[i]))
			return "names are lowercase (a DNS label: a-z, 0-9 and '-')";
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '-')
			return "a name may contain only a-z, 0-9 and '-' (a DNS label)";
	}
	if (s[0] == '-')
		return "a name cannot start with '-' (a DNS label)";
	if (s[n - 1] == '-')
		return "a name cannot end with '-' (a DNS label)";
	return NULL;
}

bool spec_name_is_valid(const char *name)
{
	return spec_name_problem(name) == NULL;
}

static const struct {
	const char *name;
	int sig;
} signals[] = {
	/* clang-format off */
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "ILL", SIGILL },
	{ "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "IOT", SIGIOT }, { "BUS", SIGBUS },
	{ "FPE", SIGFPE }, { "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV },
	{ "USR2", SIGUSR2 }, { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
	{ "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
	{ "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU }, { "URG", SIGURG },
	{ "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
	{ "WINCH", SIGWINCH }, { "IO", SIGIO }, { "POLL", SIGPOLL }, { "PWR", SIGPWR },
	{ "SYS", SIGSYS },
	/* clang-format on */
};

int spec_signal_parse(const char *s)
{
	const char *n;

	if (!s || !*s)
		return -EINVAL;
	if (isdigit((unsigned char)s[0])) {
		int v = 0;

		if (strlen(s) > 2 || (s[0] == '0'))
			return -EINVAL;
		for (const char *p = s; *p; p++) {
			if (!isdigit((unsigned char)*p))
				return -EINVAL;
			v = v * 10 + (*p - '0');
		}
		return v >= 1 && v <= SPEC_SIGNAL_MAX ? v : -EINVAL;
	}
	n = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
	for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
		if (strcasecmp(n, signals[i].name) == 0)
			return signals[i].sig;
	return -EINVAL;
}

const char *restart_policy_name(enum restart_policy p)
{
	switch (p) {
	case RESTART_ALWAYS:
		return "always";
	case RESTART_ON_FAILURE:
		return "on_failure";
	case RESTART_NEVER:
		return "never";
	}
	return "?";
}

const char *nic_mode_name(enum nic_mode m)
{
	switch (m) {
	case NIC_MACVLAN:
		return "macvlan";
	case NIC_VETH:
		return "veth";
	case NIC_NETKIT:
		return "netkit";
	}
	return "?";
}

int spec_cpu_parse(const char *s, uint64_t *ret_milli, char *why, size_t whylen)
{
	uint64_t whole = 0, frac = 0, milli;
	const char *p = s;
	int digits = 0;

	if (!s || !isdigit((unsigned char)*p))
		return WHY("not a CPU amount (use millicores \"500m\" or CPUs \"0.5\", \"2\")");
	while (isdigit((unsigned char)*p)) {
		whole = whole * 10 + (uint64_t)(*p++ - '0');
		if (whole > SPEC_CPU_MAX_MILLI)
			return WHY("too large (at most %u CPUs)", SPEC_CPU_MAX_MILLI / 1000);
	}
	if (*p == 'm' && !p[1]) {
		milli = whole;
	} else {
		if (*p == '.' && isdigit((unsigned char)p[1])) {
			for (p++; isdigit((unsigned char)*p); p++, digits++) {
				if (digits < 3)
					frac = frac * 10 + (uint64_t)(*p - '0');
				else if (*p != '0')
					return WHY("finer than a millicore (use e.g. \"500m\")");
			}
			for (; digits < 3; digits++)
				frac *= 10;
		}
		if (*p)
			return WHY("not a CPU amount (use millicores \"500m\" or CPUs \"0.5\", "
				   "\"2\")");
		milli = whole * 1000 + frac;
	}
	if (milli == 0)
		return WHY("must be greater than 0 (omit it for no limit)");
	if (milli > SPEC_CPU_MAX_MILLI)
		return WHY("too large (at most %u CPUs)", SPEC_CPU_MAX_MILLI / 1000);
	*ret_milli = milli;
	return 0;
}

/* ---- the network part of a pod spec (called from spec.c) ------------------------------------ */

static bool get_cidr(struct spec_ctx *c, const json_t *v, enum spec_cidr_kind kind,
		     struct spec_cidr *ret)
{
	const char *s =
		spec_get_str(c, v,
			     kind == SPEC_CIDR_ADDR ? "a string (an address, e.g. \"198.18.0.1\")"
						    : "a string (a CIDR, e.g. \"198.18.0.0/24\")");
	char why[200];

	if (!s)
		return false;
	if (spec_cidr_parse(s, kind, ret, why, sizeof(why)) < 0) {
		spec_err(c, "%s: %s", spec_quote(c, s), why);
		return false;
	}
	return true;
}

static void p_nic_name(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_nic *nic = t;
	const char *s = spec_get_str(c, v, "a string (an interface name, e.g. \"eth0\")");
	const char *problem;

	if (!s)
		return;
	problem = spec_ifname_problem(s);
	if (problem)
		spec_err(c, "%s: %s", spec_quote(c, s), problem);
	else if (strcmp(s, "lo") == 0)
		spec_err(c,
			 "\"lo\" is the pod's loopback, which is always there; pick another name");
	else
		nic->name = spec_strdup(c, s);
}

static void p_nic_mode(struct spec_ctx *c, const json_t *v, void *t)
{
	static const char *const names[] = {
		[NIC_MACVLAN] = "macvlan",
		[NIC_VETH] = "veth",
		[NIC_NETKIT] = "netkit",
	};
	const struct spec_host *host = spec_host(c);
	int r = spec_get_enum(c, v, names, ARRAY_SIZE(names), "NIC mode");

	if (r == NIC_NETKIT && host && !host->netkit)
		spec_err(c,
			 "\"netkit\": this kernel has no netkit links (Linux 6.7 or later with "
			 "CONFIG_NETKIT); use \"veth\" (routed the same way)");
	if (r >= 0)
		((struct spec_nic *)t)->mode = (enum nic_mode)r;
}

static void p_nic_parent(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_nic *nic = t;
	const char *s = spec_get_str(c, v, "a string (an interface name or \"auto\")");
	const char *problem;

	if (!s)
		return;
	problem = strcmp(s, "auto") == 0 ? NULL : spec_ifname_problem(s);
	if (problem)
		spec_err(c, "%s: %s (or \"auto\" for the configured uplink)", spec_quote(c, s),
			 problem);
	else
		nic->parent = spec_strdup(c, s);
}

/* With host facts: pool must be one the host configured; reported at the current path. */
static bool pool_is_known(struct spec_ctx *c, const char *pool)
{
	const struct spec_host *host = spec_host(c);
	char list[512] = "";
	size_t len = 0;

	if (!host)
		return true;
	for (size_t i = 0; host->pools && host->pools[i]; i++) {
		if (!strcmp(host->pools[i], pool))
			return true;
		if (len < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
						i ? ", " : "", host->pools[i]);
	}
	if (len >= sizeof(list))
		strcpy(list + sizeof(list) - 4, "...");
	if (len)
		spec_err(c, "unknown pool %s (configured: %s)", spec_quote(c, pool), list);
	else
		spec_err(c, "unknown pool %s (tankd has no IPAM pools; add pool.%s.subnet = CIDR "
			 "to its config)", spec_quote(c, pool), pool);
	return false;
}

/* One more pool for the NIC: the first goes to ipam, the others to ipam_more. */
static void nic_add_pool(struct spec_ctx *c, struct spec_nic *nic, const char *pool)
{
	size_t n = strv_length(nic->ipam_more) + (nic->ipam ? 1 : 0);

	bool dup = nic->ipam && !strcmp(nic->ipam, pool);

	if (!pool_is_known(c, pool))
		return;

	for (size_t i = 0; !dup && nic->ipam_more && nic->ipam_more[i]; i++)
		dup = !strcmp(nic->ipam_more[i], pool);
	if (dup)
		spec_err(c, "%s: the pool is named twice (one address per pool)",
			 spec_quote(c, pool));
	else if (n >= SPEC_POOLS_MAX)
		spec_err(c, "at most %d IPAM pools per NIC", SPEC_POOLS_MAX);
	else if (!nic->ipam)
		nic->ipam = spec_strdup(c, pool);
	else if (strv_push(&nic->ipam_more, pool) < 0)
		spec_err(c, "out of memory");
}

static void p_ipam_pool(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_nic *nic = t;
	const char *s = spec_get_str(c, v, "a string (an IPAM pool name)");
	size_t n;

	if (!s)
		return;
	n = strlen(s);
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i])) {
			n = 0;
			break;
		}
	}
	if (n == 0 || n > 63)
		spec_err(c, "%s: a pool name has 1-63 characters from a-z, A-Z, 0-9, '-', '_', '.'",
			 spec_quote(c, s));
	else
		nic_add_pool(c, nic, s);
}

static const struct spec_field ipam_fields[] = {
	{ "ipam", p_ipam_pool, "required (the pool name, e.g. {\"ipam\": \"default\"})" },
};

static void nic_add_addr(struct spec_ctx *c, struct spec_nic *nic, const json_t *v)
{
	struct spec_cidr a;

	if (!get_cidr(c, v, SPEC_CIDR_IFADDR, &a))
		return;
	for (size_t i = 0; i < nic->n_addrs; i++) {
		if (nic->addrs[i].family == a.family &&
		    memcmp(nic->addrs[i].addr, a.addr, sizeof(a.addr)) == 0) {
			spec_err(c, "%s: duplicate address", spec_quote(c, a.text));
			return;
		}
	}
	nic->addrs[nic->n_addrs++] = a;
}

static void p_nic_ip(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_nic *nic = t;
	size_t n;

	if (json_is_string(v) && strcmp(json_string_value(v), "ipam") == 0) {
		nic_add_pool(c, nic, "default");
	} else if (json_is_string(v)) {
		if ((nic->addrs = spec_calloc(c, 1, sizeof(*nic->addrs))))
			nic_add_addr(c, nic, v);
	} else if (json_is_object(v)) {
		SPEC_WALK(c, v, ipam_fields, nic);
	} else if (json_is_array(v)) {
		if (!spec_get_array(c, v, SPEC_ADDRS_MAX, "", &n))
			return;
		if (n == 0) {
			spec_err(c, "empty list; omit \"ip\" for a NIC without addresses");
			return;
		}
		if (!(nic->addrs = spec_calloc(c, n, sizeof(*nic->addrs))))
			return;
		for (size_t i = 0; i < n; i++) {
			const json_t *e = json_array_get(v, i);
			size_t old = spec_path_index(c, i);

			/* pools and static addresses mix: one address from each pool */
			if (json_is_string(e) && strcmp(json_string_value(e), "ipam") == 0)
				nic_add_pool(c, nic, "default");
			else if (json_is_object(e))
				SPEC_WALK(c, e, ipam_fields, nic);
			else
				nic_add_addr(c, nic, e);
			spec_path_pop(c, old);
		}
	} else {
		spec_err_type(c, v,
			      "a CIDR string, \"ipam\", {\"ipam\": \"<pool>\"}, or a list of "
			      "those");
	}
}

static void nic_add_gateway(struct spec_ctx *c, struct spec_nic *nic, const json_t *v)
{
	struct spec_cidr g;
	struct spec_cidr *slot;

	if (!get_cidr(c, v, SPEC_CIDR_ADDR, &g))
		return;
	slot = g.family == AF_INET ? &nic->gateway4 : &nic->gateway6;
	if (slot->family)
		spec_err(c, "a second %s gateway; a NIC has at most one per family",
			 g.family == AF_INET ? "IPv4" : "IPv6");
	else
		*slot = g;
}

static void p_nic_gateway(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_nic *nic = t;
	size_t n;

	if (!json_is_array(v)) {
		if (json_is_string(v) && strchr(json_string_value(v), '/')) {
			spec_err(c, "%s: a gateway is an address, not a CIDR (drop the \"/N\")",
				 spec_quote(c, json_string_value(v)));
			return;
		}
		nic_add_gateway(c, nic, v);
		return;
	}
	if (!spec_get_array(c, v, 2, "", &n))
		return;
	for (size_t i = 0; i < n; i++) {
		size_t old = spec_path_index(c, i);

		nic_add_gateway(c, nic, json_array_get(v, i));
		spec_path_pop(c, old);
	}
}

static void p_nic_mac(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_nic *nic = t;
	const char *s = spec_get_str(c, v, "a string (a MAC address, e.g. \"02:00:c6:12:00:0a\")");
	unsigned char m[6];
	char why[200];

	if (!s)
		return;
	if (spec_mac_parse(s, m, why, sizeof(why)) < 0) {
		spec_err(c, "%s: %s", spec_quote(c, s), why);
		return;
	}
	snprintf(why, sizeof(why), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
		 m[5]);
	nic->mac = spec_strdup(c, why);
}

static void p_route_to(struct spec_ctx *c, const json_t *v, void *t)
{
	get_cidr(c, v, SPEC_CIDR_PEER, &((struct spec_route *)t)->to);
}

static void p_route_via(struct spec_ctx *c, const json_t *v, void *t)
{
	if (json_is_string(v) && strchr(json_string_value(v), '/'))
		spec_err(c, "%s: via is an address, not a CIDR (drop the \"/N\")",
			 spec_quote(c, json_string_value(v)));
	else
		get_cidr(c, v, SPEC_CIDR_ADDR, &((struct spec_route *)t)->via);
}

static const struct spec_field route_fields[] = {
	{ "to", p_route_to, "required (a CIDR, e.g. \"198.18.64.0/24\")" },
	{ "via", p_route_via, NULL },
};

static void p_nic_routes(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_nic *nic = t;
	size_t n;

	if (!spec_get_array(c, v, SPEC_ROUTES_MAX, "an array of {to, via} objects", &n))
		return;
	if (!(nic->routes = spec_calloc(c, n ? n : 1, sizeof(*nic->routes))))
		return;
	nic->n_routes = n;
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(v, i);
		struct spec_route *r = &nic->routes[i];
		size_t old = spec_path_index(c, i);

		if (!json_is_object(e)) {
			spec_err_type(c, e, "an object {to, via}");
		} else {
			SPEC_WALK(c, e, route_fields, r);
			if (r->to.family && r->via.family && r->to.family != r->via.family)
				spec_err_key(c, "via", "%s: an %s route needs an %s next hop",
					     spec_quote(c, r->via.text),
					     r->to.family == AF_INET ? "IPv4" : "IPv6",
					     r->to.family == AF_INET ? "IPv4" : "IPv6");
			for (size_t k = 0; k < i && r->to.family; k++)
				if (nic->routes[k].to.family == r->to.family &&
				    !strcmp(nic->routes[k].to.text, r->to.text))
					spec_err_key(c, "to", "%s: duplicate route",
						     spec_quote(c, r->to.text));
		}
		spec_path_pop(c, old);
	}
}

static const struct spec_field nic_fields[] = {
	{ "name", p_nic_name, "required (an interface name, e.g. \"eth0\")" },
	{ "mode", p_nic_mode, NULL },
	{ "parent", p_nic_parent, NULL },
	{ "ip", p_nic_ip, NULL },
	{ "gateway", p_nic_gateway, NULL },
	{ "mac", p_nic_mac, NULL },
	{ "routes", p_nic_routes, NULL },
};

static bool nic_has_family(const struct spec_nic *nic, int family)
{
	for (size_t i = 0; i < nic->n_addrs; i++)
		if (nic->addrs[i].family == family)
			return true;
	return false;
}

/* Checks that need the whole NIC object, whatever the key order. */
static void nic_check(struct spec_ctx *c, const json_t *obj, struct spec_nic *nic)
{
	const char *mode = nic_mode_name(nic->mode);

	if (nic->mode != NIC_MACVLAN && json_object_get(obj, "parent"))
		spec_err_key(c, "parent",
			     "parent applies to macvlan NICs only (%s NICs are host-routed); "
			     "remove parent",
			     mode);
	else if (nic->mode == NIC_MACVLAN && !nic->parent)
		nic->parent = spec_strdup(c, "auto");
	if (nic->mode != NIC_MACVLAN && json_object_get(obj, "gateway")) {
		spec_err_key(c, "gateway", "%s NICs route via a link-local gateway; remove gateway",
			     mode);
		return;
	}
	for (size_t i = 0; nic->mode != NIC_MACVLAN && i < nic->n_routes; i++) {
		const struct spec_route *r = &nic->routes[i];
		const char *gw = r->via.family == AF_INET ? NP_VETH_GW4 : NP_VETH_GW6;

		if (r->via.family && strcmp(r->via.text, gw)) {
			size_t old = spec_path_key(c, "routes"), old2 = spec_path_index(c, i);

			spec_err_key(c, "via",
				     "%s: %s NICs route only via the host (%s); omit \"via\"",
				     spec_quote(c, r->via.text), mode, gw);
			spec_path_pop(c, old2);
			spec_path_pop(c, old);
		}
	}
	if (nic->ipam)
		return; /* the pool decides the family */
	for (size_t i = 0; i < nic->n_routes; i++) {
		const struct spec_route *r = &nic->routes[i];

		if (r->to.family && !nic_has_family(nic, r->to.family)) {
			size_t old = spec_path_key(c, "routes"), old2 = spec_path_index(c, i);

			spec_err_key(c, "to", "an %s route needs an %s address on this NIC",
				     r->to.family == AF_INET ? "IPv4" : "IPv6",
				     r->to.family == AF_INET ? "IPv4" : "IPv6");
			spec_path_pop(c, old2);
			spec_path_pop(c, old);
		}
	}
	for (int k = 0; k < 2; k++) {
		const struct spec_cidr *gw = k ? &nic->gateway6 : &nic->gateway4;
		const char *fam = k ? "IPv6" : "IPv4";

		if (gw->family && !nic_has_family(nic, gw->family))
			spec_err_key(c, "gateway",
				     "an %s gateway needs an %s address on this NIC (add one to "
				     "\"ip\")",
				     fam, fam);
	}
}

static void p_nics(struct spec_ctx *c, const json_t *v, void *t)
{
	struct pod_spec *s = t;
	size_t n;

	if (!spec_get_array(c, v, SPEC_NICS_MAX, "an array of NIC objects", &n))
		return;
	if (!(s->nics = spec_calloc(c, n, sizeof(*s->nics))))
		return;
	s->n_nics = n;
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(v, i);
		size_t old = spec_path_index(c, i);

		if (!json_is_object(e)) {
			spec_err_type(c, e, "an object {name, mode, parent, ip, gateway, mac, routes}");
		} else {
			SPEC_WALK(c, e, nic_fields, &s->nics[i]);
			nic_check(c, e, &s->nics[i]);
			SPEC_DUP_CHECK(c, s->nics, i, name, "name", "NIC name", "network.nics");
		}
		spec_path_pop(c, old);
	}
}

static void p_dns(struct spec_ctx *c, const json_t *v, void *t)
{
	struct pod_spec *s = t;
	size_t n;

	if (!spec_get_array(c, v, SPEC_DNS_MAX, "an array of addresses", &n))
		return;
	if (!(s->dns = spec_calloc(c, n + 1, sizeof(char *))))
		return;
	for (size_t i = 0, k = 0; i < n; i++) {
		struct spec_cidr a;
		size_t old = spec_path_index(c, i);

		if (get_cidr(c, json_array_get(v, i), SPEC_CIDR_ADDR, &a))
			s->dns[k++] = spec_strdup(c, a.text);
		spec_path_pop(c, old);
	}
}

struct rule_target {
	struct spec_rule *rule;
	const char *peer_key; /* "from" or "to" */
};

static void p_rule_peers(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_rule *r = ((struct rule_target *)t)->rule;
	const char *key = ((struct rule_target *)t)->peer_key;
	size_t n;

	if (!spec_get_array(c, v, SPEC_PEERS_MAX, "an array of CIDR strings", &n))
		return;
	if (n == 0) {
		spec_err(c, "an empty list matches nothing; omit \"%s\" to match any peer", key);
		return;
	}
	if (!(r->peers = spec_calloc(c, n, sizeof(*r->peers))))
		return;
	for (size_t i = 0; i < n; i++) {
		size_t old = spec_path_index(c, i);

		if (get_cidr(c, json_array_get(v, i), SPEC_CIDR_PEER, &r->peers[r->n_peers]))
			r->n_peers++;
		spec_path_pop(c, old);
	}
}

static void p_rule_ports(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_rule *r = ((struct rule_target *)t)->rule;
	size_t n;

	if (!spec_get_array(c, v, SPEC_PORTS_MAX, "an array like [\"80/tcp\", \"53/udp\"]", &n))
		return;
	if (n == 0) {
		spec_err(c, "an empty list matches nothing; omit \"ports\" to allow every port and "
			    "protocol");
		return;
	}
	if (!(r->ports = spec_calloc(c, n, sizeof(*r->ports))))
		return;
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(v, i);
		size_t old = spec_path_index(c, i);
		const char *s =
			json_is_integer(e) ? NULL : spec_get_str(c, e, "a string like \"80/tcp\"");
		char why[200];

		if (json_is_integer(e))
			spec_err(c, "a port needs its protocol: write \"%lld/tcp\" or \"%lld/udp\"",
				 json_integer_value(e), json_integer_value(e));
		else if (s && spec_port_parse(s, &r->ports[r->n_ports], why, sizeof(why)) < 0)
			spec_err(c, "%s: %s", spec_quote(c, s), why);
		else if (s)
			r->n_ports++;
		spec_path_pop(c, old);
	}
}

static const struct spec_field ingress_fields[] = {
	{ "from", p_rule_peers, NULL },
	{ "ports", p_rule_ports, NULL },
};

static const struct spec_field egress_fields[] = {
	{ "to", p_rule_peers, NULL },
	{ "ports", p_rule_ports, NULL },
};

static void parse_rules(struct spec_ctx *c, const json_t *v, bool ingress, struct spec_rule **ret,
			size_t *ret_n)
{
	size_t n;

	if (!spec_get_array(c, v, SPEC_RULES_MAX, "an array of rule objects", &n))
		return;
	if (!(*ret = spec_calloc(c, n, sizeof(**ret))))
		return;
	*ret_n = n;
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(v, i);
		struct rule_target rt = { &(*ret)[i], ingress ? "from" : "to" };
		size_t old = spec_path_index(c, i);

		if (!json_is_object(e))
			spec_err_type(c, e,
				      ingress ? "an object {from, ports}"
					      : "an object {to, ports}");
		else if (ingress)
			SPEC_WALK(c, e, ingress_fields, &rt);
		else
			SPEC_WALK(c, e, egress_fields, &rt);
		spec_path_pop(c, old);
	}
}

static void p_ingress(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_policy *p = t;

	p->has_ingress = true;
	parse_rules(c, v, true, &p->ingress, &p->n_ingress);
}

static void p_egress(struct spec_ctx *c, const json_t *v, void *t)
{
	struct spec_policy *p = t;

	p->has_egress = true;
	parse_rules(c, v, false, &p->egress, &p->n_egress);
}

static void p_policy_mode(struct spec_ctx *c, const json_t *v, void *t)
{
	static const char *const names[] = {
		[POLICY_ENFORCE] = "enforce",
		[POLICY_AUDIT] = "audit",
	};
	int r = spec_get_enum(c, v, names, ARRAY_SIZE(names), "policy mode");

	if (r >= 0)
		((struct spec_policy *)t)->mode = (enum policy_mode)r;
}

static const struct spec_field policy_fields[] = {
	{ "ingress", p_ingress, NULL },
	{ "egress", p_egress, NULL },
	{ "mode", p_policy_mode, NULL },
};

static void p_policy(struct spec_ctx *c, const json_t *v, void *t)
{
	struct pod_spec *s = t;

	if (!json_is_object(v)) {
		spec_err_type(c, v, "an object {ingress, egress, mode}");
		return;
	}
	s->has_policy = true;
	SPEC_WALK(c, v, policy_fields, &s->policy);
}

static const struct spec_field network_fields[] = {
	{ "nics", p_nics, NULL },
	{ "dns", p_dns, NULL },
	{ "policy", p_policy, NULL },
};

static void p_net_mode(struct spec_ctx *c, const json_t *v, void *t)
{
	static const char *const names[] = { "host" };

	(void)t; /* the mode was seen before the walk; this reports a bad one at its path */
	spec_get_enum(c, v, names, ARRAY_SIZE(names), "network mode");
}

/* {"mode": "host", "policy": {...}}: the host's netns, filtered by cgroup_skb programs. */
static const struct spec_field host_fields[] = {
	{ "mode", p_net_mode, NULL },
	{ "policy", p_policy, NULL },
};

void spec_parse_network(struct spec_ctx *c, const json_t *v, void *t)
{
	struct pod_spec *s = t;

	if (json_is_string(v)) {
		const char *m = json_string_value(v);

		if (strcmp(m, "none") == 0)
			s->net = NET_NONE;
		else if (strcmp(m, "host") == 0)
			s->net = NET_HOST;
		else
			spec_err(c,
				 "%s: unknown network (use \"none\", \"host\", an object "
				 "{nics, dns, policy} or {mode: \"host\", policy})",
				 spec_quote(c, m));
	} else if (json_is_object(v) && json_object_get(v, "mode")) {
		s->net = NET_HOST;
		SPEC_WALK(c, v, host_fields, s);
	} else if (json_is_object(v)) {
		s->net = NET_NICS;
		SPEC_WALK(c, v, network_fields, s);
	} else {
		spec_err_type(c, v,
			      "\"none\", \"host\", an object {nics, dns, policy} or {mode: \"host\", "
			      "policy}");
	}
}
