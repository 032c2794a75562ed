/* hostshim.c - the host's own macvlan child on an uplink, so the host reaches macvlan pods. */
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "netplane/netplane.h"

static bool addr_same(const struct np_addr *a, const struct np_addr *b)
{
	size_t len = a->family == AF_INET ? sizeof(a->v4) : sizeof(a->v6);

	return a->family == b->family && a->prefix == b->prefix && !memcmp(&a->v6, &b->v6, len);
}

/* The shim's current global addresses, from an RTM_GETADDR dump. */
struct shim_addrs {
	int ifindex;
	size_t n;
	bool overflow;
	struct np_addr v[NP_ADDRS_MAX * 4];
};

static int shim_addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct shim_addrs *s = data;
	struct np_ifaddr ia;

	if (nlh->nlmsg_type != RTM_NEWADDR || np_msg_addr_parse(nlh, &ia) < 0)
		return 0;
	if (ia.ifindex != s->ifindex || ia.scope != RT_SCOPE_UNIVERSE)
		return 0; /* link-local and host addresses are the kernel's */
	if (s->n == ARRAY_SIZE(s->v)) {
		s->overflow = true;
		return 0;
	}
	s->v[s->n++] = ia.addr;
	return 0;
}

/* Read the global addresses of the shim (ifindex) into *cur, reusing the message buffer m. */
static int shim_addrs_read(struct np_nl *nl, struct np_msgs *m, int ifindex,
			   struct shim_addrs *cur, struct diag *d)
{
	cur->ifindex = ifindex;
	cur->n = 0;
	np_msgs_init(m);
	if (!np_msg_addr_dump(m, AF_UNSPEC))
		return diag_fail(d, -errno, "cannot build the request");
	return np_nl_talk(nl, m, shim_addr_cb, cur, d);
}

static const char *mode_name(uint32_t mode)
{
	switch (mode) {
	case MACVLAN_MODE_PRIVATE:
		return "private";
	case MACVLAN_MODE_VEPA:
		return "vepa";
	case MACVLAN_MODE_BRIDGE:
		return "bridge";
	case MACVLAN_MODE_PASSTHRU:
		return "passthru";
	case MACVLAN_MODE_SOURCE:
		return "source";
	default:
		return "unknown";
	}
}

/* An existing link named like the shim: ours to adopt only if it is what we would create. */
static int shim_adoptable(const struct np_link *l, const struct np_link *parent, struct diag *d)
{
	if (strcmp(l->kind, "macvlan") != 0)
		return diag_fail(d, -EEXIST, "%s exists and is a %s link, not a macvlan: rename or "
					     "delete it, or configure another shim name",
				 l->ifname, l->kind[0] ? l->kind : "plain");
	if (l->link != parent->ifindex || l->link_netnsid >= 0)
		return diag_fail(d, -EEXIST, "%s exists and is a macvlan on another parent "
					     "(ifindex %d), not on %s",
				 l->ifname, l->link, parent->ifname);
	if (l->macvlan_mode != MACVLAN_MODE_BRIDGE)
		return diag_fail(d, -EEXIST, "%s exists and is a macvlan in %s mode, not bridge",
				 l->ifname, mode_name(l->macvlan_mode));
	return 0;
}

static int shim_check(const char *parent, const char *name, const struct np_addr *addrs,
		      size_t n, struct diag *d)
{
	if (!np_ifname_valid(parent))
		return diag_fail(d, -EINVAL, "invalid parent interface name");
	if (!np_ifname_valid(name))
		return diag_fail(d, -EINVAL, "invalid shim interface name");
	if (strcmp(parent, name) == 0)
		return diag_fail(d, -EINVAL, "the shim cannot be named like its parent");
	if (n > NP_ADDRS_MAX || (n && !addrs))
		return diag_fail(d, -E2BIG, "at most %d addresses", NP_ADDRS_MAX);
	for (size_t i = 0; i < n; i++)
		if (!np_addr_valid(&addrs[i]))
			return diag_fail(d, -EINVAL, "address %zu is invalid", i);
	return 0;
}

int np_hostshim_ensure(const char *parent, const char *name, const struct np_addr *addrs,
		       size_t n_addrs, struct diag *d)
{
	struct shim_addrs cur = {};
	struct np_link pl = {}, sl = {};
	struct diag local = {};
	struct np_nl *nl = NULL;
	struct np_msgs m;
	char key[32];
	uint8_t mac[6];
	int r;

	r = shim_check(parent, name, addrs, n_addrs, d);
	if (r < 0)
		goto out;
	r = np_nl_open(-1, &nl, d);
	if (r < 0)
		goto out;
	r = np_link_get(nl, parent, &pl, d);
	if (r < 0) {
		diag_prefix(d, "parent %s: ", parent);
		goto out;
	}

	/* create, or adopt what is there (also after losing a race with another creator) */
	r = np_link_get(nl, name, &sl, NULL);
	if (r == -ENODEV) {
		snprintf(key, sizeof(key), "hostshim:%s", parent);
		np_mac_derive(key, name, mac);
		np_msgs_init(&m);
		if (!np_msg_macvlan_new(&m, name, -1, pl.ifindex, mac, 0)) {
			r = diag_fail(d, -errno, "cannot build the request");
			goto out;
		}
		r = np_nl_talk(nl, &m, NULL, NULL, &local);
		if (r < 0 && r != -EEXIST) {
			diag_fail(d, r, "%s", diag_text(&local, r));
			goto out;
		}
		r = np_link_get(nl, name, &sl, d);
	}
	if (r < 0)
		goto out;
	r = shim_adoptable(&sl, &pl, d);
	if (r < 0)
		goto out;

	/* addresses: exactly the listed ones; then up */
	r = shim_addrs_read(nl, &m, sl.ifindex, &cur, d);
	if (r < 0)
		goto out;
	np_msgs_init(&m);
	for (size_t i = 0; i < cur.n; i++) {
		bool listed = false;

		for (size_t j = 0; j < n_addrs && !listed; j++)
			listed = addr_same(&cur.v[i], &addrs[j]);
		if (!listed && !np_msg_addr_del(&m, sl.ifindex, &cur.v[i])) {
			r = diag_fail(d, -errno, "cannot build the requests");
			goto out;
		}
	}
	for (size_t i = 0; i < n_addrs; i++) {
		uint32_t flags = addrs[i].family == AF_INET6 ? IFA_F_NODAD : 0;

		if (!np_msg_addr_replace(&m, sl.ifindex, &addrs[i], RT_SCOPE_UNIVERSE, flags,
					 NP_HOSTSHIM_METRIC)) {
			r = diag_fail(d, -errno, "cannot build the requests");
			goto out;
		}
	}
	if (!np_msg_link_up(&m, sl.ifindex, NULL)) {
		r = diag_fail(d, -errno, "cannot build the requests");
		goto out;
	}
	r = np_nl_talk(nl, &m, NULL, NULL, d);
	if (r >= 0)
		r = sl.ifindex;
out:
	if (r < 0)
		diag_prefix(d, "host shim %s on %s: ", name ? name : "?", parent ? parent : "?");
	np_nl_close(nl);
	return r;
}

/* Build one /32 (/128) route per address via the shim, add (replace) or delete, one batch. */
static int shim_routes(const char *name, const struct np_addr *addrs, size_t n, bool add,
		       struct diag *d)
{
	struct shim_addrs cur = {};
	struct np_nl *nl = NULL;
	struct np_link sl = {};
	struct diag local = {};
	struct np_msgs m;
	int r;

	if (!np_ifname_valid(name))
		return diag_fail(d, -EINVAL, "host shim: invalid interface name");
	if (n > NP_ADDRS_MAX || (n && !addrs))
		return diag_fail(d, -E2BIG, "host shim %s: at most %d addresses", name,
				 NP_ADDRS_MAX);
	for (size_t i = 0; i < n; i++)
		if (!np_addr_valid(&addrs[i]))
			return diag_fail(d, -EINVAL, "host shim %s: address %zu is invalid", name,
					 i);
	if (n == 0)
		return 0;
	r = np_nl_open(-1, &nl, d);
	if (r < 0)
		return r;
	r = np_link_get(nl, name, &sl, &local);
	if (r == -ENODEV && !add) {
		r = 0; /* no shim, no routes through it */
		goto out;
	}
	if (r < 0) {
		diag_fail(d, r, "%s", diag_text(&local, r));
		goto out;
	}
	if (add) {
		/* the host answers a pod from the shim's address in the pod's subnet, when the
		 * shim has several (one per pool) */
		r = shim_addrs_read(nl, &m, sl.ifindex, &cur, d);
		if (r < 0)
			goto out;
	}
	/* deletes one by one, so that one already gone does not hide the others */
	for (size_t i = 0; i < n; i++) {
		struct np_route rt = {
			.dst = addrs[i],
			.oif = sl.ifindex,
			.scope = addrs[i].family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE,
			.protocol = RTPROT_STATIC,
		};

		rt.dst.prefix = rt.dst.family == AF_INET ? 32 : 128;
		for (size_t k = 0; add && k < cur.n && !rt.src.family; k++)
			if (np_addr_in(&cur.v[k], &addrs[i]))
				rt.src = cur.v[k];
		if (add) {
			if (i == 0)
				np_msgs_init(&m);
			if (!np_msg_route_replace(&m, &rt)) {
				r = diag_fail(d, -errno, "cannot build the requests");
				goto out;
			}
			continue;
		}
		np_msgs_init(&m);
		if (!np_msg_route_del(&m, &rt)) {
			r = diag_fail(d, -errno, "cannot build the request");
			goto out;
		}
		diag_clear(&local);
		r = np_nl_talk(nl, &m, NULL, NULL, &local);
		if (r == -ESRCH || r == -ENOENT)
			r = 0; /* already gone */
		if (r < 0) {
			diag_fail(d, r, "%s", diag_text(&local, r));
			goto out;
		}
	}
	if (add)
		r = np_nl_talk(nl, &m, NULL, NULL, d);
out:
	if (r < 0)
		diag_prefix(d, "host shim %s: routes: ", name);
	np_nl_close(nl);
	return r;
}

int np_hostshim_route_add(const char *name, const struct np_addr *pod_addrs, size_t n,
			  struct diag *d)
{
	return shim_routes(name, pod_addrs, n, true, d);
}

int np_hostshim_route_del(const char *name, const struct np_addr *pod_addrs, size_t n,
			  struct diag *d)
{
	return shim_routes(name, pod_addrs, n, false, d);
}
