/* bpf_repair.c - after a restart: stale pins and map entries swept, programs not ours listed. */
#include <dirent.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/syscall.h>

#include "netplane/bpf_int.h"

#define NPB_QUERY_MAX 64

/* ---- programs not ours -------------------------------------------------------------------- */

struct foreign {
	struct np_bpf *b;
	int ifindex;
	struct np_bpf_prog_ref *out;
	size_t max, n;
	const char *hook; /* while dumping tc filters */
};

static bool prog_is_ours(struct np_bpf *b, __u32 id)
{
	struct bpf_program *ours[] = { b->skel->progs.tank_host_in, b->skel->progs.tank_host_eg,
				       b->skel->progs.tank_pod_in,  b->skel->progs.tank_pod_eg,
				       b->cg->progs.tank_cg_in,     b->cg->progs.tank_cg_eg };

	for (size_t i = 0; i < ARRAY_SIZE(ours); i++)
		if (npb_prog_id(bpf_program__fd(ours[i])) == id)
			return true;
	return false;
}

static void foreign_add(struct foreign *f, const char *hook, __u32 id, const char *name)
{
	struct np_bpf_prog_ref *r;

	if (prog_is_ours(f->b, id) || f->n >= f->max)
		return;
	r = &f->out[f->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->hook, sizeof(r->hook), "%s", hook);
	r->prog_id = id;
	if (name && name[0]) {
		snprintf(r->name, sizeof(r->name), "%s", name);
	} else {
		_cleanup_close_ int fd = bpf_prog_get_fd_by_id(id);
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
			snprintf(r->name, sizeof(r->name), "%s", info.name);
	}
}

static int tc_filter_one(const struct nlmsghdr *nlh, void *data)
{
	struct foreign *f = data;
	const struct tcmsg *tcm = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *o;
	const char *kind = NULL;
	__u32 id = 0;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*tcm))
		return MNL_CB_OK; /* too short to be a filter: not ours to judge */

	if (nlh->nlmsg_type != RTM_NEWTFILTER || tcm->tcm_ifindex != f->ifindex)
		return 0;
	mnl_attr_for_each(a, nlh, sizeof(*tcm)) {
		if (mnl_attr_get_type(a) == TCA_KIND && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			kind = mnl_attr_get_str(a);
		if (mnl_attr_get_type(a) != TCA_OPTIONS)
			continue;
		mnl_attr_for_each_nested(o, a) {
			if (mnl_attr_get_type(o) == TCA_BPF_ID &&
			    mnl_attr_validate(o, MNL_TYPE_U32) == 0)
				id = mnl_attr_get_u32(o);
		}
	}
	/* the first message of a filter priority carries no handle and no program; the program's
	 * own name is reported, not the filter's (tc names it after the object file) */
	if (kind && strcmp(kind, "bpf") == 0 && id)
		foreign_add(f, f->hook, id, NULL);
	return 0;
}

/* tc filters of the clsact qdisc at one hook (none when the device has no clsact). */
static void tc_filters(struct foreign *f, bool egress)
{
	struct np_msgs *m = calloc(1, sizeof(*m));
	struct np_nl *nl = NULL;
	struct nlmsghdr *nlh;
	struct tcmsg *tcm;

	if (!m || np_nl_open(-1, &nl, NULL) < 0)
		goto out;
	np_msgs_init(m);
	nlh = np_msgs_put(m, RTM_GETTFILTER, NLM_F_DUMP, sizeof(*tcm));
	if (!nlh)
		goto out;
	tcm = mnl_nlmsg_put_extra_header(nlh, sizeof(*tcm));
	tcm->tcm_family = AF_UNSPEC;
	tcm->tcm_ifindex = f->ifindex;
	tcm->tcm_parent = TC_H_MAKE(TC_H_CLSACT, egress ? TC_H_MIN_EGRESS : TC_H_MIN_INGRESS);
	np_msgs_end(m, nlh);
	f->hook = egress ? "tc egress" : "tc ingress";
	np_nl_talk(nl, m, tc_filter_one, f, NULL);
out:
	np_nl_close(nl);
	free(m);
}

static int foreign_nic(void *arg)
{
	struct foreign *f = arg;
	/* the netkit hooks answer only on a netkit primary (else ENXIO, or EINVAL before 6.7) */
	static const struct {
		enum bpf_attach_type type;
		const char *hook;
		bool tcx;
	} hooks[] = { { NP_BPF_TCX_INGRESS, "tcx ingress", true },
		      { NP_BPF_TCX_EGRESS, "tcx egress", true },
		      { NP_BPF_NETKIT_PEER, "netkit peer", false },
		      { NP_BPF_NETKIT_PRIMARY, "netkit primary", false } };
	char name[IF_NAMESIZE];

	npb_libbpf_reset();
	if (!if_indextoname((unsigned int)f->ifindex, name))
		return -ENODEV;
	for (size_t i = 0; i < ARRAY_SIZE(hooks); i++) {
		__u32 ids[NPB_QUERY_MAX], n = NPB_QUERY_MAX;

		if ((hooks[i].tcx && !f->b->tcx_available) ||
		    npb_hook_query(f->ifindex, hooks[i].type, ids, NULL, &n) < 0)
			continue;
		for (__u32 k = 0; k < n; k++)
			foreign_add(f, hooks[i].hook, ids[k], NULL);
	}
	tc_filters(f, false);
	tc_filters(f, true);
	return (int)f->n;
}

int np_bpf_foreign_nic(struct np_bpf *b, int netns_fd, int ifindex, struct np_bpf_prog_ref *out,
		       size_t max, struct diag *d)
{
	struct foreign f = { .b = b, .ifindex = ifindex, .out = out, .max = max };
	int r;

	if (ifindex <= 0 || (max && !out))
		return diag_fail(d, -EINVAL, "BPF foreign programs: invalid ifindex");
	r = netns_fd < 0 ? foreign_nic(&f) : npb_netns_run(netns_fd, foreign_nic, &f);
	if (r < 0)
		diag_fail(d, r, "ifindex %d: %s", ifindex, strerror(-r));
	return r;
}

int np_bpf_foreign_cgroup(struct np_bpf *b, const char *cgroup_v2_dir,
			  struct np_bpf_prog_ref *out, size_t max, struct diag *d)
{
	static const struct {
		enum bpf_attach_type type;
		const char *hook;
	} hooks[] = { { BPF_CGROUP_INET_INGRESS, "cgroup ingress" },
		      { BPF_CGROUP_INET_EGRESS, "cgroup egress" } };
	struct foreign f = { .b = b, .out = out, .max = max };
	_cleanup_close_ int fd = -1;

	npb_libbpf_reset();
	if (!cgroup_v2_dir || (max && !out))
		return diag_fail(d, -EINVAL, "BPF foreign programs: no cgroup");
	fd = open(cgroup_v2_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;

		return diag_fail_at(d, r, cgroup_v2_dir, "opening the cgroup: %s", strerror(-r));
	}
	for (size_t i = 0; i < ARRAY_SIZE(hooks); i++) {
		__u32 ids[NPB_QUERY_MAX], n = NPB_QUERY_MAX, flags = 0;

		if (bpf_prog_query(fd, hooks[i].type, 0, &flags, ids, &n) < 0)
			continue;
		for (__u32 k = 0; k < n && k < NPB_QUERY_MAX; k++)
			foreign_add(&f, hooks[i].hook, ids[k], NULL);
	}
	return (int)f.n;
}

/* ---- stale state ---------------------------------------------------------------------------- */

struct sweep {
	struct np_bpf *b;
	const char *const *uids;
	size_t n_uids;
	bool live[TANK_MAX_PODS]; /* slot owned by a uid the caller knows */
};

static bool uid_known(const struct sweep *s, const char *uid)
{
	for (size_t i = 0; i < s->n_uids; i++)
		if (s->uids[i] && strcmp(s->uids[i], uid) == 0)
			return true;
	return false;
}

/* Entries of a hash map (tank_ifs_v3 or tank_cgs_v1: the value starts with the slot) whose slot
 * no known pod owns; deleted in rounds of collected keys. */
static unsigned int entries_sweep(struct sweep *s, struct bpf_map *m, size_t key_size,
				  size_t val_size)
{
	unsigned char keys[64][16], key[16], next[16], val[64];
	unsigned int removed = 0;
	bool more = true;

	if (key_size > sizeof(key) || val_size > sizeof(val))
		return 0;
	while (more) {
		size_t nk = 0;
		int g = bpf_map__get_next_key(m, NULL, next, key_size);

		more = false;
		while (g == 0) {
			__u32 slot;

			memcpy(key, next, key_size);
			if (bpf_map__lookup_elem(m, key, key_size, val, val_size, 0) == 0) {
				memcpy(&slot, val, sizeof(slot));
				if (slot >= TANK_MAX_PODS || !s->live[slot]) {
					if (nk == ARRAY_SIZE(keys)) {
						more = true;
						break;
					}
					memcpy(keys[nk++], key, key_size);
				}
			}
			g = bpf_map__get_next_key(m, key, next, key_size);
		}
		for (size_t i = 0; i < nk; i++)
			if (bpf_map__delete_elem(m, keys[i], key_size, 0) == 0)
				removed++;
			else
				more = false;
	}
	return removed;
}

/* The slot's interfaces in tankd's netns (their clsact filters go with the unregister). */
static size_t slot_host_ifindexes(struct np_bpf *b, __u32 slot, int *out, size_t max)
{
	struct bpf_map *m = b->skel->maps.tank_ifs_v3;
	struct tank_if_key key, next;
	struct tank_if_info ifi;
	size_t n = 0;
	int g = bpf_map__get_next_key(m, NULL, &next, sizeof(next));

	while (g == 0 && n < max) {
		key = next;
		if (key.netns == b->netns &&
		    bpf_map__lookup_elem(m, &key, sizeof(key), &ifi, sizeof(ifi), 0) == 0 &&
		    ifi.slot == slot)
			out[n++] = (int)key.ifindex;
		g = bpf_map__get_next_key(m, &key, &next, sizeof(next));
	}
	return n;
}

int np_bpf_sweep(struct np_bpf *b, const char *const *uids, size_t n_uids,
		 struct np_bpf_sweep_stats *ret, struct diag *d)
{
	struct sweep *s = calloc(1, sizeof(*s));
	struct np_bpf_sweep_stats st = { 0 };
	char pods[PATH_MAX];
	struct dirent *de;
	DIR *dp;
	int r = 0;

	npb_libbpf_reset();
	if (!s)
		return diag_fail(d, -ENOMEM, "BPF sweep: out of memory");
	s->b = b;
	s->uids = uids;
	s->n_uids = n_uids;
	/* slots: a uid nobody knows is a pod deleted while tankd was down (or lost with its
	 * state): unregistered as a delete does, so its final totals become a tombstone */
	for (__u32 slot = 1; slot < TANK_MAX_PODS; slot++) {
		struct tank_pod_info info;
		int ifx[TANK_NICS_MAX];
		size_t nifx;

		if (bpf_map__lookup_elem(b->skel->maps.tank_pods_v1, &slot, sizeof(slot), &info,
					 sizeof(info), 0) < 0 ||
		    !info.uid[0])
			continue;
		info.uid[sizeof(info.uid) - 1] = '\0';
		if (uid_known(s, info.uid)) {
			s->live[slot] = true;
			continue;
		}
		nifx = slot_host_ifindexes(b, slot, ifx, ARRAY_SIZE(ifx));
		if (npb_pin_component_ok(info.uid, TANK_POD_UID_MAX) &&
		    np_bpf_pod_unregister(b, info.uid, slot, ifx, nifx, r < 0 ? NULL : d) < 0 &&
		    r == 0)
			r = d ? d->err : -EIO;
		st.slots++;
	}
	/* pin directories of uids nobody knows (their slot may be gone already) */
	/* in batches: a full batch is followed by another pass while the last one removed some */
	for (bool again = true; again && npb_pin_path(pods, sizeof(pods), "%s/pods", b->pin_dir) == 0 &&
				(dp = opendir(pods));) {
		char *stale[64];
		size_t n = 0, removed = 0;

		while ((de = readdir(dp)) && n < ARRAY_SIZE(stale))
			if (de->d_name[0] != '.' && !uid_known(s, de->d_name))
				stale[n++] = strdup(de->d_name);
		closedir(dp);
		for (size_t i = 0; i < n; i++) {
			if (stale[i] && npb_pod_dir_remove(b, stale[i], NULL) == 0)
				removed++;
			free(stale[i]);
		}
		st.pin_dirs += removed;
		again = n == ARRAY_SIZE(stale) && removed > 0;
	}
	st.ifs = entries_sweep(s, b->skel->maps.tank_ifs_v3, sizeof(struct tank_if_key),
			       sizeof(struct tank_if_info));
	npb_ifh_sync(b);
	st.cgs = entries_sweep(s, b->skel->maps.tank_cgs_v1, sizeof(__u64),
			       sizeof(struct tank_cg_info));
	npb_cg_levels_update(b);
	free(s);
	if (ret)
		*ret = st;
	return r;
}
