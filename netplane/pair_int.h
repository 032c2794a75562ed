/* pair_int.h - inside netplane/: the routed pair shared by veth.c and netkit.c. */
#ifndef TANK_NETPLANE_PAIR_INT_H
#define TANK_NETPLANE_PAIR_INT_H

#include "netplane/netplane.h"

/* The routed-pair setup behind np_veth_setup and np_netkit_setup: `create` builds the one
 * RTM_NEWLINK of the pair's kind; everything else (checks, addressing, undo) is shared. */
int np_routed_pair_setup(const struct np_veth_spec *s, const char *kind,
			 struct nlmsghdr *(*create)(struct np_msgs *, const struct np_veth_spec *),
			 struct np_nic_state *ret, struct diag *d);

#endif
