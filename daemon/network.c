/* network.c - pod networks as tankd decides them: NIC kinds, IPAM leases, the host shim,
 * embedded DNS and drift. netplane/ does the mechanism; the choices are made here. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "daemon/tankd.h"

#define LEASES_FILE "ipam-leases.json"
#define DNS_FWD_MAX 256
#define DNS_FWD_TIMEOUT_MS 3000
#define DNS_VETH_LISTEN NP_VETH_GW4 /* every veth pod's gateway is this host */
/* IPv6 veth pods reach the host through their default route: a ULA of tankd's own ("fd" +
 * "tank" in ASCII), put on the host's lo while such a pod runs */
#define DNS_VETH_LISTEN6 "fd74:616e:6b::53"
#define NIC_ROUTE_METRIC 100       /* + the NIC's index: routes of NICs without the default */

struct dns_fwd {
	bool used;
	uint16_t id;           /* ours, towards the upstream */
	uint16_t client_id;
	int listen_fd;
	struct sockaddr_storage client;
	socklen_t client_len;
	uint64_t deadline;
	uint8_t query[512];
	size_t qlen;
};

static struct dns_fwd fwd[DNS_FWD_MAX];
static uint16_t next_fwd_id;

/* ---- leases --------------------------------------------------------------------------------- */

static int leases_save(struct tankd *t)
{
	_cleanup_close_ int dfd = open(t->cfg.data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_json_ json_t *j = np_lease_set_to_json(&t->leases);

	if (dfd < 0 || !j)
		return -EIO;
	return json_write_atomic(dfd, LEASES_FILE, j, 0600);
}

/* The owner's address in pool: its lease, or a new one (recorded before it is used). */
static int lease_get(struct tankd *t, const struct np_ipam_pool *pool, const char *owner,
		     const char *reserve_key, struct np_addr *ret, struct diag *d)
{
	const struct np_lease *l = np_lease_find(&t->leases, pool->name, owner);
	int r;

	if (l) {
		*ret = l->addr;
		return 0;
	}
	r = np_ipam_pick_for(pool, owner, reserve_key, &t->leases, ret, d);
	if (r < 0)
		return r;
	r = np_lease_add(&t->leases, pool->name, owner, ret, d);
	if (r < 0)
		return r;
	r = leases_save(t);
	return r < 0 ? diag_fail(d, r, "save IPAM leases in %s/%s: %s", t->cfg.data_dir,
				 LEASES_FILE, strerror(-r))
		     : 0;
}

static void addr_text(const struct np_addr *a, bool with_prefix, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	inet_ntop(a->family, a->family == AF_INET ? (const void *)&a->v4 : (const void *)&a->v6,
		  ip, sizeof(ip));
	if (with_prefix)
		snprintf(buf, len, "%s/%u", ip, a->prefix);
	else
		snprintf(buf, len, "%s", ip);
}

/* ---- addresses and parents of a pod, before anything is created --------------------------- */

static size_t nic_pools(struct tankd *t, const struct spec_nic *sn, const struct pod_nic *n,
			const struct np_ipam_pool **out, size_t max);
static void shim_name(struct tankd *t, const char *parent, char out[16]);

/* The NIC's IPAM pools, in spec order ("ipam" and {"ipam": pool} entries of "ip"). */
static const char *nic_ipam_pool(const struct spec_nic *sn, size_t k)
{
	if (k == 0)
		return sn->ipam;
	return sn->ipam && k - 1 < strv_length(sn->ipam_more) ? sn->ipam_more[k - 1] : NULL;
}

static int resolve_parent(struct tankd *t, const struct spec_nic *sn, char out[16],
			  struct diag *d)
{
	const char *p = sn->parent && strcmp(sn->parent, "auto") ? sn->parent : t->cfg.uplink;

	if (p && *p) {
		snprintf(out, 16, "%s", p);
		return 0;
	}
	return np_parent_auto(out, d);
}

int net_pod_plan(struct tankd *t, struct pod *p, struct diag *d)
{
	for (size_t i = 0; i < p->n_nics; i++) {
		const struct spec_nic *sn = &p->spec->nics[i];
		struct pod_nic *n = &p->nics[i];
		const char *pool_name;
		int r;

		n->n_addrs = 0;
		for (size_t k = 0; k < sn->n_addrs && n->n_addrs < NP_ADDRS_MAX; k++) {
			r = np_addr_parse(sn->addrs[k].text, &n->addrs[n->n_addrs]);
			if (r < 0)
				return diag_fail(d, r, "network.nics[%zu].ip: \"%s\"", i,
						 sn->addrs[k].text);
			n->n_addrs++;
		}
		/* one address from each pool; reservations name "<pod name>/<nic>" */
		for (size_t k = 0; (pool_name = nic_ipam_pool(sn, k)); k++) {
			const struct np_ipam_pool *pool = config_pool(&t->cfg, pool_name);
			char owner[NP_IPAM_OWNER_MAX], rkey[NP_IPAM_OWNER_MAX];

			if (!pool)
				return diag_fail(d, -ENOENT,
						 "network.nics[%zu].ip: IPAM pool \"%s\" is not "
						 "configured in tankd (pool.%s.subnet)",
						 i, pool_name, pool_name);
			if (n->n_addrs == NP_ADDRS_MAX)
				return diag_fail(d, -E2BIG, "network.nics[%zu].ip: at most %d "
							    "addresses", i, NP_ADDRS_MAX);
			np_ipam_owner_key(p->uid, sn->name, owner, sizeof(owner));
			np_ipam_owner_key(p->name, sn->name, rkey, sizeof(rkey));
			r = lease_get(t, pool, owner, rkey, &n->addrs[n->n_addrs], d);
			if (r < 0) {
				diag_prefix(d, "network.nics[%zu]: ", i);
				return r;
			}
			n->n_addrs++;
		}
		strv_free(n->ips);
		n->ips = calloc(1, sizeof(char *));
		for (size_t k = 0; n->ips && k < n->n_addrs; k++) {
			char buf[64];

			addr_text(&n->addrs[k], true, buf, sizeof(buf));
			strv_push(&n->ips, buf);
		}
		if (sn->mode == NIC_MACVLAN) {
			const struct np_ipam_pool *pools[NP_ADDRS_MAX];
			size_t np = nic_pools(t, sn, n, pools, ARRAY_SIZE(pools));
			char owner[NP_IPAM_OWNER_MAX];

			r = resolve_parent(t, sn, n->parent, d);
			if (r < 0) {
				diag_prefix(d, "network.nics[%zu].parent: ", i);
				return r;
			}
			shim_name(t, n->parent, n->shim);
			memset(&n->shim_addr, 0, sizeof(n->shim_addr));
			/* the host shim has an address in every pool its pods are in */
			snprintf(owner, sizeof(owner), "host-shim/%s", n->parent);
			for (size_t k = 0; k < np; k++) {
				struct np_addr a;

				r = lease_get(t, pools[k], owner, owner, &a, d);
				if (r < 0) {
					diag_prefix(d, "host shim %s: ", n->shim);
					return r;
				}
				if (!n->shim_addr.family)
					n->shim_addr = a;
			}
		}
	}
	return 0;
}

/* ---- the host shim of an uplink --------------------------------------------------------------- */

/* The pools serving this NIC: its IPAM pools, and the pools whose subnet holds one of its
 * static addresses; each once. */
static size_t nic_pools(struct tankd *t, const struct spec_nic *sn, const struct pod_nic *n,
			const struct np_ipam_pool **out, size_t max)
{
	size_t m = 0;

	for (size_t k = 0; k < n->n_addrs && m < max; k++) {
		const struct np_ipam_pool *pool = NULL;
		const char *name;
		bool dup = false;

		for (size_t j = 0; (name = nic_ipam_pool(sn, j)) && !pool; j++) {
			const struct np_ipam_pool *c = config_pool(&t->cfg, name);

			if (c && np_addr_in(&c->subnet, &n->addrs[k]))
				pool = c;
		}
		for (size_t j = 0; j < t->cfg.n_pools && !pool; j++)
			if (np_addr_in(&t->cfg.pools[j].subnet, &n->addrs[k]))
				pool = &t->cfg.pools[j];
		for (size_t j = 0; j < m && !dup; j++)
			dup = out[j] == pool;
		if (pool && !dup)
			out[m++] = pool;
	}
	return m;
}

static void shim_name(struct tankd *t, const char *parent, char out[16])
{
	uint32_t h = 2166136261u;

	if (!*t->cfg.uplink || !strcmp(parent, t->cfg.uplink)) {
		snprintf(out, 16, "%s", t->cfg.host_shim);
		return;
	}
	for (const char *s = parent; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	snprintf(out, 16, "tks%08x", h);
}

/* The host shim's addresses on parent: its lease in every configured pool that has one (one per
 * pool that served a macvlan pod there), so a pod of one pool never strips another's. */
static size_t shim_addrs(struct tankd *t, const char *parent, struct np_addr *out, size_t max)
{
	char owner[NP_IPAM_OWNER_MAX];
	size_t n = 0;

	snprintf(owner, sizeof(owner), "host-shim/%s", parent);
	for (size_t i = 0; i < t->cfg.n_pools && n < max; i++) {
		const struct np_lease *l = np_lease_find(&t->leases, t->cfg.pools[i].name, owner);

		if (l && np_addr_in(&t->cfg.pools[i].subnet, &l->addr))
			out[n++] = l->addr;
	}
	return n;
}

static int shim_ensure(struct tankd *t, const char *parent, const char *shim, struct diag *d)
{
	struct np_addr addrs[NP_ADDRS_MAX];
	size_t n = shim_addrs(t, parent, addrs, ARRAY_SIZE(addrs));

	return np_hostshim_ensure(parent, shim, addrs, n, d); /* its diag names shim and parent */
}

/* "macvlan on up0, 198.18.0.10/24 2001:db8::10/64" or "veth, host side tk1234, ...": for
 * the NetworkConfigured event. */
void net_nic_describe(const struct pod *p, size_t i, char *buf, size_t len)
{
	const struct pod_nic *n = &p->nics[i];
	enum nic_mode mode = p->spec && i < p->spec->n_nics ? p->spec->nics[i].mode
			     : n->parent[0] ? NIC_MACVLAN : NIC_VETH;
	size_t off;

	if (mode == NIC_MACVLAN)
		off = (size_t)snprintf(buf, len, "macvlan on %s:", n->parent);
	else
		off = (size_t)snprintf(buf, len, "%s, host side %s:", nic_mode_name(mode),
				       n->host_ifname ? n->host_ifname : "?");
	for (size_t k = 0; n->ips && n->ips[k] && off < len; k++)
		off += (size_t)snprintf(buf + off, len - off, " %s", n->ips[k]);
	if ((!n->ips || !n->ips[0]) && off < len)
		snprintf(buf + off, len - off, " no address");
}

/* ---- per-pod setup ------------------------------------------------------------------------- */

static void mac_text(const uint8_t m[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static int parse_mac(const char *s, uint8_t out[6])
{
	unsigned int b[6];

	if (!s || sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		out[i] = (uint8_t)b[i];
	return 0;
}

/* A macvlan NIC's gateway of that family: from the spec, else its pool's. */
static bool nic_gateway(struct tankd *t, struct pod *p, size_t i, int family,
			struct np_addr *ret)
{
	const struct spec_nic *sn = &p->spec->nics[i];
	const struct np_ipam_pool *pools[NP_ADDRS_MAX];
	const struct spec_cidr *g = family == AF_INET ? &sn->gateway4 : &sn->gateway6;
	size_t n;

	if (sn->mode != NIC_MACVLAN)
		return false;
	if (g->family)
		return np_addr_parse(g->text, ret) == 0;
	if (sn->gateway4.family || sn->gateway6.family)
		return false; /* the spec names the gateways: only those */
	n = nic_pools(t, sn, &p->nics[i], pools, ARRAY_SIZE(pools));
	for (size_t k = 0; k < n; k++) {
		if (pools[k]->gateway.family != family)
			continue;
		*ret = pools[k]->gateway;
		return true;
	}
	return false;
}

/* Whether NIC i carries the pod's default route of that family: the first NIC with a gateway
 * of that family, else the first routed pair (veth, netkit) with an address of it. Only one
 * NIC gets it (two default routes of a family collide). */
static bool nic_has_default(struct tankd *t, struct pod *p, size_t i, int family)
{
	struct np_addr gw;

	for (size_t k = 0; k < p->n_nics; k++)
		if (nic_gateway(t, p, k, family, &gw))
			return k == i;
	for (size_t k = 0; k < p->n_nics; k++) {
		if (p->spec->nics[k].mode == NIC_MACVLAN)
			continue;
		for (size_t a = 0; a < p->nics[k].n_addrs; a++)
			if (p->nics[k].addrs[a].family == family)
				return k == i;
	}
	return false;
}

/* The NIC's extra routes from the spec, as netplane takes them. */
static size_t nic_routes(const struct spec_nic *sn, struct np_route_via *out, size_t max)
{
	size_t n = 0;

	for (size_t k = 0; k < sn->n_routes && n < max; k++) {
		memset(&out[n], 0, sizeof(out[n]));
		if (np_addr_parse(sn->routes[k].to.text, &out[n].dst) < 0 ||
		    (sn->routes[k].via.family &&
		     np_addr_parse(sn->routes[k].via.text, &out[n].gw) < 0))
			continue; /* the spec parser let through only what parses */
		n++;
	}
	return n;
}

static int setup_macvlan(struct tankd *t, struct pod *p, size_t i, int nsfd, struct diag *d)
{
	const struct spec_nic *sn = &p->spec->nics[i];
	struct pod_nic *n = &p->nics[i];
	struct np_addr gws[2];
	uint8_t mac[6];
	struct np_macvlan_spec ms = { .parent = n->parent,
				      .pod_ifname = n->name,
				      .pod_netns_fd = nsfd,
				      .pod_uid = p->uid,
				      .addrs = n->addrs,
				      .n_addrs = n->n_addrs,
				      .gateways = gws };
	struct np_route_via routes[NP_ROUTES_MAX];
	struct np_nic_state st;
	int r;

	ms.routes = routes;
	ms.n_routes = nic_routes(sn, routes, ARRAY_SIZE(routes));
	if (sn->mac && parse_mac(sn->mac, mac) == 0)
		ms.mac = mac;
	if (nic_has_default(t, p, i, AF_INET) && nic_gateway(t, p, i, AF_INET, &gws[ms.n_gateways]))
		ms.n_gateways++;
	if (nic_has_default(t, p, i, AF_INET6) && nic_gateway(t, p, i, AF_INET6, &gws[ms.n_gateways]))
		ms.n_gateways++;
	/* the host shim first: it is what lets the host (and tankd's DNS) reach the pod */
	r = shim_ensure(t, n->parent, n->shim, d);
	if (r < 0)
		return r;
	r = np_macvlan_setup(&ms, &st, d);
	if (r < 0)
		return r;
	n->pod_ifindex = st.pod_ifindex;
	n->host_ifindex = 0;
	mac_text(st.pod_mac, n->mac);
	/* tcx on the macvlan itself, inside the pod netns (its ifindex is only unique there) */
	if (t->bpf) {
		r = np_bpf_macvlan_attach(t->bpf, p->uid, n->name, p->slot, nsfd, st.pod_ifindex, d);
		if (r < 0) {
			diag_prefix(d, "attach BPF: ");
			return r;
		}
	}
	return np_hostshim_route_add(n->shim, n->addrs, n->n_addrs, d);
}

static int setup_veth(struct tankd *t, struct pod *p, size_t i, int nsfd, struct diag *d)
{
	struct pod_nic *n = &p->nics[i];
	struct np_veth_spec vs = { .host_ifname = n->host_ifname,
				   .pod_ifname = n->name,
				   .pod_netns_fd = nsfd,
				   .addrs = n->addrs,
				   .n_addrs = n->n_addrs,
				   .no_default4 = !nic_has_default(t, p, i, AF_INET),
				   .no_default6 = !nic_has_default(t, p, i, AF_INET6),
				   .metric = NIC_ROUTE_METRIC + (uint32_t)i,
				   /* netkit: nothing passes until the programs are in */
				   .blackhole = t->bpf != NULL };
	bool netkit = p->spec->nics[i].mode == NIC_NETKIT;
	struct np_route_via routes[NP_ROUTES_MAX];
	struct np_nic_state st;
	int r;

	vs.routes = routes;
	vs.n_routes = nic_routes(&p->spec->nics[i], routes, ARRAY_SIZE(routes));

	/* a leftover from a crashed start would make the create fail: replace it */
	np_link_delete(n->host_ifname, NULL);
	r = netkit ? np_netkit_setup(&vs, &st, d) : np_veth_setup(&vs, &st, d);
	if (r < 0)
		return r;
	n->host_ifindex = st.host_ifindex;
	n->pod_ifindex = st.pod_ifindex;
	mac_text(st.pod_mac, n->mac);
	if (t->bpf) {
		r = netkit ? np_bpf_netkit_attach(t->bpf, p->uid, n->name, p->slot, st.host_ifindex,
						  nsfd, st.pod_ifindex, d)
			   : np_bpf_veth_attach(t->bpf, p->uid, n->name, p->slot, st.host_ifindex,
						d);
		if (r < 0)
			diag_prefix(d, "attach BPF: ");
	}
	return r;
}

/* A host-network pod: counted and filtered by cgroup_skb on its v2 cgroup. */
int net_pod_setup_host(struct tankd *t, struct pod *p, struct diag *d)
{
	_cleanup_free_ char *dir = NULL;
	int r;

	if (!t->bpf)
		return 0;
	if (t->cgroups == CGROUP_V1) {
		event_emit(t, p->name, true, "NotCounted",
			   "this host has no cgroup v2 hierarchy: a host-network pod's traffic cannot "
			   "be counted or filtered");
		return 0;
	}
	dir = strdup_printf(t->cgroups == CGROUP_V2 ? "%s/%s/%s" : "%s/unified/%s/%s",
			    t->cfg.cgroup_root, t->cfg.cgroup_name, p->name);
	if (!dir)
		return -ENOMEM;
	r = np_bpf_pod_register(t->bpf, p->slot, p->name, p->uid, d);
	if (r >= 0)
		r = dp_policy_apply(t, p, p->spec, d);
	if (r >= 0)
		r = np_bpf_cgroup_attach(t->bpf, p->uid, p->slot, dir, d);
	return r;
}

int net_pod_setup(struct tankd *t, struct pod *p, int nsfd, struct diag *d)
{
	int r = np_netns_lo_up(nsfd, d);

	if (r < 0)
		return r;
	/* ping without CAP_NET_RAW (ICMP datagram sockets), as podman does */
	r = np_netns_sysctl(nsfd, "net/ipv4/ping_group_range", "0 2147483647", d);
	if (r < 0)
		return r;
	if (p->n_nics && t->bpf) {
		r = np_bpf_pod_register(t->bpf, p->slot, p->name, p->uid, d);
		/* the policy is in before any program sees the pod's packets */
		if (r >= 0)
			r = dp_policy_apply(t, p, p->spec, d);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < p->n_nics; i++) {
		r = p->spec->nics[i].mode == NIC_MACVLAN ? setup_macvlan(t, p, i, nsfd, d)
							  : setup_veth(t, p, i, nsfd, d);
		if (r < 0) {
			diag_prefix(d, "nic %s: ", p->nics[i].name);
			return r;
		}
	}
	return 0;
}

void net_pod_teardown(struct tankd *t, struct pod *p)
{
	struct diag d = { 0 };

	(void)t;
	for (size_t i = 0; i < p->n_nics; i++) {
		struct pod_nic *n = &p->nics[i];

		if (n->shim[0] && np_hostshim_route_del(n->shim, n->addrs, n->n_addrs, &d) < 0)
			log_pod(LOG_LVL_WARN, p->name, "remove routes via %s: %s", n->shim,
				diag_text(&d, d.err));
		if (n->host_ifname && np_link_delete(n->host_ifname, &d) < 0)
			log_pod(LOG_LVL_WARN, p->name, "delete %s: %s", n->host_ifname,
				diag_text(&d, d.err));
	}
	if (p->netmon) {
		loop_del(t, np_monitor_fd(p->netmon));
		np_monitor_close(p->netmon);
		p->netmon = NULL;
	}
}

void net_pod_release(struct tankd *t, const char *uid)
{
	if (uid && *uid && np_lease_release_pod(&t->leases, uid) > 0 && leases_save(t) < 0)
		log_warn("cannot save IPAM leases in %s/%s", t->cfg.data_dir, LEASES_FILE);
}

/* Leases whose pod is in neither the store nor the runtime go back to their pool. */
void net_sweep(struct tankd *t, json_t *records)
{
	bool changed = false;

	for (size_t i = 0; i < t->leases.n;) {
		const char *owner = t->leases.v[i].owner, *slash = strchr(owner, '/');
		bool live = !strncmp(owner, "host-shim/", 10);
		size_t k;
		json_t *rec;

		json_array_foreach(records, k, rec) {
			const char *uid = json_str(rec, "uid", "");

			if (slash && strlen(uid) == (size_t)(slash - owner) &&
			    !strncmp(owner, uid, strlen(uid)))
				live = true;
		}
		for (struct pod *p = t->pods; p && !live; p = p->next)
			if (slash && p->uid && strlen(p->uid) == (size_t)(slash - owner) &&
			    !strncmp(owner, p->uid, strlen(p->uid)))
				live = true;
		if (live) {
			i++;
			continue;
		}
		{
			char a[64];

			addr_text(&t->leases.v[i].addr, true, a, sizeof(a));
			log_info("IPAM: releasing %s in pool %s (owner %s is gone)", a,
				 t->leases.v[i].pool, owner);
		}
		np_lease_remove(&t->leases, t->leases.v[i].pool, owner);
		changed = true;
	}
	if (changed && leases_save(t) < 0)
		log_warn("cannot save IPAM leases");
}

/* ---- resolv.conf --------------------------------------------------------------------------- */

static bool pod_has_family(const struct pod *p, int family)
{
	for (size_t i = 0; i < p->n_nics; i++)
		for (size_t k = 0; k < p->nics[i].n_addrs; k++)
			if (p->nics[i].addrs[k].family == family)
				return true;
	return false;
}

/* Where the pod reaches the embedded DNS: the configured dns_listen addresses of the families
 * it has; else, on its first NIC that has any, the host shim's leases in the NIC's pools
 * (macvlan) or the host's link-local gateway and IPv6 listener (veth, netkit). */
static bool embedded_nameservers(struct tankd *t, struct pod *p, FILE *f)
{
	int written = 0;
	char buf[64];

	for (size_t i = 0; t->cfg.dns_listen && t->cfg.dns_listen[i] && written < 3; i++) {
		struct np_addr a;

		if (np_addr_parse(t->cfg.dns_listen[i], &a) == 0 && pod_has_family(p, a.family)) {
			addr_text(&a, false, buf, sizeof(buf));
			fprintf(f, "nameserver %s\n", buf);
			written++;
		}
	}
	if (strv_length(t->cfg.dns_listen))
		return written > 0;
	for (size_t i = 0; i < p->n_nics && !written; i++) {
		const struct pod_nic *n = &p->nics[i];
		bool v4 = false, v6 = false;

		for (size_t k = 0; k < n->n_addrs; k++) {
			v4 |= n->addrs[k].family == AF_INET;
			v6 |= n->addrs[k].family == AF_INET6;
		}
		if (p->spec->nics[i].mode != NIC_MACVLAN) {
			if (v4 && ++written)
				fprintf(f, "nameserver %s\n", DNS_VETH_LISTEN);
			if (v6 && ++written)
				fprintf(f, "nameserver %s\n", DNS_VETH_LISTEN6);
			continue;
		}
		if (n->parent[0]) {
			struct np_addr sa[NP_ADDRS_MAX];
			size_t ns = shim_addrs(t, n->parent, sa, ARRAY_SIZE(sa));

			/* the shim's lease in the subnet of one of the NIC's addresses */
			for (size_t k = 0; k < ns && written < 3; k++) {
				bool mine = false;

				for (size_t j = 0; j < n->n_addrs && !mine; j++)
					mine = np_addr_in(&sa[k], &n->addrs[j]);
				if (!mine)
					continue;
				addr_text(&sa[k], false, buf, sizeof(buf));
				fprintf(f, "nameserver %s\n", buf);
				written++;
			}
		}
	}
	return written > 0;
}

/* pod dns -> pool dns -> embedded DNS -> host DNS, with a search line for the pod domain. */
char *net_resolv_conf(struct tankd *t, struct pod *p)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	const struct np_ipam_pool *pools[NP_ADDRS_MAX];
	const char *domains[6];
	size_t n_domains = 0;
	bool any = false;

	if (!f)
		return NULL;
	/* the pools' own domains first (their pods are named there too), then the daemon's */
	fprintf(f, "search");
	for (size_t i = 0, m = 0; i < p->n_nics; i++) {
		m = nic_pools(t, &p->spec->nics[i], &p->nics[i], pools, ARRAY_SIZE(pools));
		for (size_t k = 0; k < m; k++) {
			const char *dom = pools[k]->domain;
			bool dup = !*dom || !strcmp(dom, t->cfg.dns_domain);

			for (size_t j = 0; j < n_domains && !dup; j++)
				dup = !strcmp(domains[j], dom);
			if (!dup && n_domains < ARRAY_SIZE(domains)) {
				domains[n_domains++] = dom;
				fprintf(f, " %s", dom);
			}
		}
	}
	fprintf(f, " %s\n", t->cfg.dns_domain);
	for (size_t i = 0; p->spec->dns && p->spec->dns[i]; i++, any = true)
		fprintf(f, "nameserver %s\n", p->spec->dns[i]);
	for (size_t i = 0; !any && i < p->n_nics; i++) {
		size_t m = nic_pools(t, &p->spec->nics[i], &p->nics[i], pools, ARRAY_SIZE(pools));

		for (size_t j = 0; j < m; j++) {
			for (size_t k = 0; k < pools[j]->n_dns; k++, any = true) {
				char buf[64];

				addr_text(&pools[j]->dns[k], false, buf, sizeof(buf));
				fprintf(f, "nameserver %s\n", buf);
			}
		}
	}
	if (!any && t->cfg.dns)
		any = embedded_nameservers(t, p, f);
	if (!any) {
		_cleanup_free_ char *host = NULL;

		if (fs_read_all(AT_FDCWD, "/etc/resolv.conf", 65536, &host, NULL) == 0)
			for (char *l = strtok(host, "\n"); l; l = strtok(NULL, "\n"))
				if (!strncmp(l, "nameserver", 10) || !strncmp(l, "options", 7))
					fprintf(f, "%s\n", l);
	}
	fclose(f);
	return out;
}

/* ---- embedded DNS --------------------------------------------------------------------------- */

static int dns_listen_one(struct tankd *t, const struct np_addr *a)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int one = 1, fd;

	if (t->n_dns_fds >= ARRAY_SIZE(t->dns_fds))
		return -ENOSPC;
	for (size_t i = 0; i < t->n_dns_fds; i++)
		if (!memcmp(&t->dns_addrs[i], a, sizeof(*a)))
			return 0;
	if (a->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(53);
		s4->sin_addr = a->v4;
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(53);
		s6->sin6_addr = a->v6;
		len = sizeof(*s6);
	}
	fd = socket(a->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* the address may not exist yet (no veth, no shim so far): bind anyway */
	setsockopt(fd, a->family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
		   a->family == AF_INET ? IP_FREEBIND : IPV6_FREEBIND, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || loop_add(t, fd, W_DNS, NULL) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	t->dns_addrs[t->n_dns_fds] = *a;
	t->dns_fds[t->n_dns_fds++] = fd;
	return 0;
}

static void dns_listen_warn(struct tankd *t, const char *addr, int r)
{
	if (r >= 0 || t->dns_warned)
		return;
	log_warn("embedded DNS: cannot listen on %s port 53: %s", addr, strerror(-r));
	t->dns_warned = true;
}

/* A routed pair (veth, netkit) with an IPv6 address runs: it needs the IPv6 listener. */
static bool veth6_in_use(struct tankd *t)
{
	for (struct pod *p = t->pods; p; p = p->next)
		for (size_t i = 0; p->spec && i < p->n_nics && i < p->spec->n_nics; i++)
			for (size_t k = 0; p->spec->nics[i].mode != NIC_MACVLAN &&
					   k < p->nics[i].n_addrs; k++)
				if (p->nics[i].addrs[k].family == AF_INET6)
					return true;
	return false;
}

/* The IPv6 listener of veth pods on the host's lo (checked again by net_check). */
static void dns_veth6_ensure(struct tankd *t, bool check)
{
	static bool done;
	struct np_addr a;
	struct np_nic_seen seen;
	struct diag d = { 0 };

	if (!t->cfg.dns || strv_length(t->cfg.dns_listen) || np_addr_parse(DNS_VETH_LISTEN6, &a) < 0)
		return;
	if (check && done && np_nic_observe(-1, "lo", &a, 1, &seen, NULL) == 0 && !seen.missing)
		return;
	if ((done && !check) || !veth6_in_use(t))
		return;
	if (np_addr_ensure("lo", &a, &d) < 0) {
		log_warn("embedded DNS: cannot add %s to lo: %s", DNS_VETH_LISTEN6,
			 diag_text(&d, d.err));
		return;
	}
	if (done)
		event_emit(t, NULL, true, "NetworkDrift", "the DNS address %s was removed from lo; "
			   "put back", DNS_VETH_LISTEN6);
	done = true;
}

/* Listen where pods look for DNS: dns_listen if configured; else the veth gateway, the veth
 * IPv6 listener, and every host shim address. */
void net_dns_refresh(struct tankd *t)
{
	struct np_addr a;

	if (!t->cfg.dns)
		return;
	for (size_t i = 0; t->cfg.dns_listen && t->cfg.dns_listen[i]; i++)
		if (np_addr_parse(t->cfg.dns_listen[i], &a) == 0)
			dns_listen_warn(t, t->cfg.dns_listen[i], dns_listen_one(t, &a));
	if (!strv_length(t->cfg.dns_listen)) {
		if (np_addr_parse(DNS_VETH_LISTEN, &a) == 0)
			dns_listen_warn(t, DNS_VETH_LISTEN, dns_listen_one(t, &a));
		if (np_addr_parse(DNS_VETH_LISTEN6, &a) == 0)
			dns_listen_warn(t, DNS_VETH_LISTEN6, dns_listen_one(t, &a));
		for (size_t i = 0; i < t->leases.n; i++)
			if (!strncmp(t->leases.v[i].owner, "host-shim/", 10))
				dns_listen_one(t, &t->leases.v[i].addr);
		dns_veth6_ensure(t, false);
	}
	if (t->dns_up_fd < 0) {
		t->dns_up_fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (t->dns_up_fd >= 0) {
			int off = 0;

			/* one socket for both families: v4 upstreams as v4-mapped addresses */
			setsockopt(t->dns_up_fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
			loop_add(t, t->dns_up_fd, W_DNS, NULL);
		}
	}
}

static int upstream_addrs(struct tankd *t, struct sockaddr_in6 *out, size_t max)
{
	_cleanup_strv_ char **list = strv_copy(t->cfg.dns_upstream);
	_cleanup_free_ char *host = NULL;
	size_t n = 0;

	if (!strv_length(list) && fs_read_all(AT_FDCWD, "/etc/resolv.conf", 65536, &host, NULL) == 0) {
		char *save = NULL;

		for (char *l = strtok_r(host, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			char ns[64];

			if (sscanf(l, "nameserver %63s", ns) == 1)
				strv_push(&list, ns);
		}
	}
	for (size_t i = 0; list && list[i] && n < max; i++) {
		struct np_addr a;

		if (np_addr_parse(list[i], &a) < 0)
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		out[n].sin6_family = AF_INET6;
		out[n].sin6_port = htons(53);
		if (a.family == AF_INET6) {
			out[n].sin6_addr = a.v6;
		} else {
			out[n].sin6_addr.s6_addr[10] = 0xff;
			out[n].sin6_addr.s6_addr[11] = 0xff;
			memcpy(&out[n].sin6_addr.s6_addr[12], &a.v4, 4);
		}
		n++;
	}
	return (int)n;
}

static void dns_zone_build(struct tankd *t, struct np_dns_zone *z, struct np_dns_name *names,
			   size_t max)
{
	size_t n = 0;

	memset(z, 0, sizeof(*z));
	z->domain = t->cfg.dns_domain;
	/* first each address of a pool with a domain of its own, as <pod>.<pool domain> (so PTR
	 * names it there), then every pod's addresses under the daemon's domain */
	for (struct pod *p = t->pods; p && n < max; p = p->next) {
		for (size_t i = 0; i < p->n_nics && n < max; i++) {
			for (size_t k = 0; k < p->nics[i].n_addrs && n < max; k++) {
				const struct np_ipam_pool *pool = NULL;

				for (size_t j = 0; j < t->cfg.n_pools && !pool; j++)
					if (t->cfg.pools[j].domain[0] &&
					    np_addr_in(&t->cfg.pools[j].subnet, &p->nics[i].addrs[k]))
						pool = &t->cfg.pools[j];
				if (!pool || !strcmp(pool->domain, t->cfg.dns_domain))
					continue;
				names[n++] = (struct np_dns_name){ .name = p->name,
								   .addrs = &p->nics[i].addrs[k],
								   .n_addrs = 1,
								   .domain = pool->domain };
			}
		}
	}
	for (struct pod *p = t->pods; p && n < max; p = p->next) {
		for (size_t i = 0; i < p->n_nics && n < max; i++) {
			if (!p->nics[i].n_addrs)
				continue;
			names[n].name = p->name;
			names[n].addrs = p->nics[i].addrs;
			names[n].n_addrs = p->nics[i].n_addrs;
			names[n].domain = NULL;
			n++;
		}
	}
	z->names = names;
	z->n_names = n;
}

static void dns_from_upstream(struct tankd *t)
{
	uint8_t buf[NP_DNS_UDP_MAX + 512];
	ssize_t n;

	while ((n = recv(t->dns_up_fd, buf, sizeof(buf), 0)) > 0) {
		int id = np_dns_msg_id(buf, (size_t)n);

		for (size_t i = 0; id >= 0 && i < DNS_FWD_MAX; i++) {
			struct dns_fwd *f = &fwd[i];

			if (!f->used || f->id != id)
				continue;
			np_dns_msg_set_id(f->query, f->qlen, f->id);
			if (!np_dns_reply_matches(f->query, f->qlen, buf, (size_t)n))
				break; /* not the answer to our question: ignore it */
			np_dns_msg_set_id(buf, (size_t)n, f->client_id);
			sendto(f->listen_fd, buf, (size_t)n, MSG_DONTWAIT,
			       (struct sockaddr *)&f->client, f->client_len);
			f->used = false;
			break;
		}
	}
}

static void dns_forward(struct tankd *t, int lfd, const uint8_t *q, size_t qlen,
			struct sockaddr_storage *from, socklen_t fromlen)
{
	struct sockaddr_in6 up[4];
	int nup = upstream_addrs(t, up, ARRAY_SIZE(up));
	struct dns_fwd *f = NULL;
	uint8_t out[NP_DNS_UDP_MAX];
	size_t olen;

	for (size_t i = 0; i < DNS_FWD_MAX && !f; i++)
		if (!fwd[i].used)
			f = &fwd[i];
	if (nup <= 0 || !f || qlen > sizeof(f->query) || t->dns_up_fd < 0) {
		/* nowhere to ask, or too busy: say so at once instead of letting it time out */
		if (np_dns_error_reply(q, qlen, 2, out, sizeof(out), &olen) == 0)
			sendto(lfd, out, olen, MSG_DONTWAIT, (struct sockaddr *)from, fromlen);
		return;
	}
	memset(f, 0, sizeof(*f));
	f->used = true;
	f->client_id = (uint16_t)np_dns_msg_id(q, qlen);
	f->id = ++next_fwd_id;
	f->listen_fd = lfd;
	memcpy(&f->client, from, fromlen);
	f->client_len = fromlen;
	f->deadline = now_mono_ms() + DNS_FWD_TIMEOUT_MS;
	memcpy(f->query, q, qlen);
	f->qlen = qlen;
	np_dns_msg_set_id(f->query, qlen, f->id);
	for (int i = 0; i < nup; i++)
		sendto(t->dns_up_fd, f->query, qlen, MSG_DONTWAIT, (struct sockaddr *)&up[i],
		       sizeof(up[i]));
}

void net_dns_event(struct tankd *t, int fd)
{
	struct np_dns_name names[1024];
	struct np_dns_zone z;
	uint8_t q[1500], out[NP_DNS_UDP_MAX];

	if (fd == t->dns_up_fd) {
		dns_from_upstream(t);
		return;
	}
	dns_zone_build(t, &z, names, ARRAY_SIZE(names));
	for (int budget = 64; budget > 0; budget--) {
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fromlen);
		size_t olen = 0;

		if (n <= 0)
			return;
		switch (np_dns_answer(&z, q, (size_t)n, out, sizeof(out), &olen)) {
		case NP_DNS_REPLY:
			sendto(fd, out, olen, MSG_DONTWAIT, (struct sockaddr *)&from, fromlen);
			break;
		case NP_DNS_FORWARD:
			dns_forward(t, fd, q, (size_t)n, &from, fromlen);
			break;
		case NP_DNS_DROP:
			break;
		}
	}
}

/* Forwards that got no answer in time: SERVFAIL to the client. */
void net_dns_tick(struct tankd *t)
{
	uint64_t now = now_mono_ms();

	(void)t;
	for (size_t i = 0; i < DNS_FWD_MAX; i++) {
		struct dns_fwd *f = &fwd[i];
		uint8_t out[NP_DNS_UDP_MAX];
		size_t olen;

		if (!f->used || now < f->deadline)
			continue;
		np_dns_msg_set_id(f->query, f->qlen, f->client_id);
		if (np_dns_error_reply(f->query, f->qlen, 2, out, sizeof(out), &olen) == 0)
			sendto(f->listen_fd, out, olen, MSG_DONTWAIT, (struct sockaddr *)&f->client,
			       f->client_len);
		f->used = false;
	}
}

/* ---- drift ----------------------------------------------------------------------------------- */

struct drift_ctx {
	struct pod *p;
	char what[128];
	bool deleted;
	int down_nic; /* the NIC reported as set down, or -1 */
};

static int on_netmon(const struct np_mon_event *ev, void *data)
{
	struct drift_ctx *c = data;

	/* the first change is reported, except that a delete (which the kernel announces with a
	 * link-down first) says more than the down before it */
	if (c->deleted || (c->what[0] && ev->type != NP_MON_LINK_DEL))
		return 0;
	for (size_t i = 0; i < c->p->n_nics; i++) {
		const struct pod_nic *n = &c->p->nics[i];
		char a[64];

		if (ev->ifindex != n->pod_ifindex)
			continue;
		switch (ev->type) {
		case NP_MON_LINK_DEL:
			snprintf(c->what, sizeof(c->what), "nic %s was deleted", n->name);
			c->deleted = true;
			c->down_nic = -1;
			break;
		case NP_MON_LINK_DOWN:
			snprintf(c->what, sizeof(c->what), "nic %s was set down", n->name);
			c->down_nic = (int)i;
			break;
		case NP_MON_ADDR_DEL:
			for (size_t k = 0; k < n->n_addrs; k++) {
				if (n->addrs[k].family != ev->addr.family ||
				    memcmp(&n->addrs[k].v6, &ev->addr.v6,
					   n->addrs[k].family == AF_INET ? 4 : 16))
					continue;
				addr_text(&ev->addr, false, a, sizeof(a));
				snprintf(c->what, sizeof(c->what), "address %s was removed from %s",
					 a, n->name);
			}
			break;
		}
		break; /* one NIC has this ifindex */
	}
	return 0;
}

/* The pod's NIC i as the kernel has it, in the pod's netns. */
static int pod_nic_observe(struct tankd *t, struct pod *p, size_t i, struct np_nic_seen *ret)
{
	_cleanup_free_ char *path = pod_netns_path(t, p->name);
	_cleanup_close_ int nsfd = path ? np_netns_open(path) : -ENOMEM;

	if (nsfd < 0)
		return nsfd;
	return np_nic_observe(nsfd, p->nics[i].name, p->nics[i].addrs, p->nics[i].n_addrs, ret,
			      NULL);
}

/* What is wrong with a NIC, in words; false when nothing is. */
static bool nic_drift_text(const char *name, const struct np_nic_seen *s,
			   const struct np_addr *want, size_t n, char *out, size_t len)
{
	char a[64];

	if (!s->exists)
		snprintf(out, len, "%s was deleted", name);
	else if (!s->up)
		snprintf(out, len, "%s was set down", name);
	else if (s->missing) {
		size_t k = (size_t)__builtin_ctz(s->missing);

		addr_text(&want[k < n ? k : 0], true, a, sizeof(a));
		snprintf(out, len, "address %s was removed from %s", a, name);
	} else
		return false;
	return true;
}

/* Each in-use host shim: there, up, with its addresses; re-created (with the routes of its
 * pods) when not. */
static void check_shims(struct tankd *t)
{
	char done[16][16];
	size_t n_done = 0;

	for (struct pod *p = t->pods; p; p = p->next) {
		for (size_t i = 0; p->phase == PHASE_RUNNING && i < p->n_nics; i++) {
			const struct pod_nic *n = &p->nics[i];
			struct np_addr addrs[NP_ADDRS_MAX];
			struct np_nic_seen seen;
			struct diag d = { 0 };
			char what[160], nic[40];
			size_t na, routed = 0;
			bool seen_before = false;

			if (!n->parent[0] || !n->shim[0])
				continue;
			for (size_t k = 0; k < n_done && !seen_before; k++)
				seen_before = !strcmp(done[k], n->shim);
			if (seen_before || n_done == ARRAY_SIZE(done))
				continue;
			snprintf(done[n_done++], sizeof(done[0]), "%s", n->shim);
			na = shim_addrs(t, n->parent, addrs, ARRAY_SIZE(addrs));
			if (np_nic_observe(-1, n->shim, addrs, na, &seen, &d) < 0)
				continue;
			snprintf(nic, sizeof(nic), "host shim %s on %s", n->shim, n->parent);
			if (!nic_drift_text(nic, &seen, addrs, na, what, sizeof(what)))
				continue;
			if (shim_ensure(t, n->parent, n->shim, &d) < 0) {
				event_emit(t, NULL, true, "NetworkDrift", "%s; cannot repair it: %s",
					   what, diag_text(&d, d.err));
				continue;
			}
			/* a re-created shim has lost its routes to the pods */
			for (struct pod *q = t->pods; q; q = q->next)
				for (size_t k = 0; q->phase == PHASE_RUNNING && k < q->n_nics; k++)
					if (!strcmp(q->nics[k].shim, n->shim) &&
					    np_hostshim_route_add(n->shim, q->nics[k].addrs,
								  q->nics[k].n_addrs, NULL) >= 0)
						routed++;
			net_dns_refresh(t);
			event_emit(t, NULL, true, "NetworkDrift",
				   "%s; repaired: %zu address(es), routes to %zu pod NIC(s)", what,
				   na, routed);
		}
	}
}

/*
 * Drift the netlink monitors cannot see: NICs changed while tankd was down (or before the
 * watch), host shims deleted or stripped from outside. Called from every reconciler pass; looks
 * at most once per resync interval. A running pod with a broken NIC is restarted.
 */
void net_check(struct tankd *t)
{
	static uint64_t last;
	uint64_t now = now_mono_ms();

	if (last && now - last < t->cfg.resync_ms)
		return;
	last = now;
	check_shims(t);
	dns_veth6_ensure(t, true);
	for (struct pod *p = t->pods; p; p = p->next) {
		char what[160] = "";

		for (size_t i = 0; p->phase == PHASE_RUNNING && i < p->n_nics && !what[0]; i++) {
			struct np_nic_seen seen;
			char nic[32];

			if (pod_nic_observe(t, p, i, &seen) < 0)
				continue;
			if (seen.exists)
				mac_text(seen.mac, p->nics[i].mac); /* also for adopted pods */
			snprintf(nic, sizeof(nic), "nic %s", p->nics[i].name);
			nic_drift_text(nic, &seen, p->nics[i].addrs, p->nics[i].n_addrs, what,
				       sizeof(what));
		}
		if (!what[0])
			continue;
		event_emit(t, p->name, true, "NetworkDrift", "%s; restarting the pod to repair it",
			   what);
		runtime_stop(t, p, false);
	}
}

/* Watch the pod's netns for NICs or addresses removed from outside. */
int net_pod_watch(struct tankd *t, struct pod *p, int nsfd)
{
	int r;

	if (!p->n_nics || p->netmon)
		return 0;
	r = np_monitor_open(nsfd, &p->netmon, NULL);
	if (r < 0)
		return r;
	r = loop_add(t, np_monitor_fd(p->netmon), W_NETMON, p);
	if (r < 0) {
		np_monitor_close(p->netmon);
		p->netmon = NULL;
	}
	return r;
}

void net_monitor_event(struct tankd *t, struct pod *p)
{
	struct drift_ctx c = { .p = p, .down_nic = -1 };
	int r = np_monitor_read(p->netmon, on_netmon, &c, NULL);

	if (r == -ENOBUFS)
		snprintf(c.what, sizeof(c.what), "network events were lost (netlink overrun)");
	if (!c.what[0] || p->phase == PHASE_STOPPING)
		return;
	if (c.down_nic >= 0) {
		/* a down whose delete is not read yet: ask the kernel */
		struct np_nic_seen seen;

		if (pod_nic_observe(t, p, (size_t)c.down_nic, &seen) >= 0 && !seen.exists)
			snprintf(c.what, sizeof(c.what), "nic %s was deleted",
				 p->nics[c.down_nic].name);
	}
	/* a pod whose network changed under it is started again from its spec */
	event_emit(t, p->name, true, "NetworkDrift", "%s; restarting the pod to repair it", c.what);
	runtime_stop(t, p, false);
}

int net_init(struct tankd *t, struct diag *d)
{
	_cleanup_close_ int dfd = open(t->cfg.data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_json_ json_t *j = NULL;
	int r;

	np_lease_set_init(&t->leases);
	t->dns_up_fd = -1;
	if (dfd >= 0 && json_read_file(dfd, LEASES_FILE, 16 << 20, &j, NULL) == 0) {
		r = np_lease_set_from_json(j, &t->leases, d);
		if (r < 0) {
			diag_prefix(d, "%s/%s: ", t->cfg.data_dir, LEASES_FILE);
			return r;
		}
	}
	net_dns_refresh(t);
	return 0;
}
